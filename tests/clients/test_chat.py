"""Stage 03's chat protocol, rule by rule (stages/03_broadcast_chat/main.cpp, top comment):

  clients are numbered 1, 2, 3, ... in the order they connect;
  "* client N joined" / "* client N left" go to every other client;
  each line of client N goes to every other client as "[N] <line>", never back to N;
  a line over 4096 bytes: "* error: line too long" to its sender, who is disconnected.
"""

import socket
import threading
import time

import pytest

from harness import checks
from harness.chat import ChatClient, join_all

pytestmark = pytest.mark.needs("chat")

MAX_LINE = 4096


def close_all(members):
    for member in members:
        member.close()


def test_clients_are_numbered_in_order_and_others_hear_them_join(address):
    first = ChatClient(*address)
    second = ChatClient(*address)
    first.expect("* client 2 joined")
    third = ChatClient(*address)
    first.expect("* client 3 joined")
    second.expect("* client 3 joined")
    # Nobody hears about themselves, and the first hears of nobody before it.
    assert first.quiet() and second.quiet() and third.quiet()
    close_all([first, second, third])


def test_a_line_goes_to_everyone_else_and_not_back(address):
    a, b, c = join_all(*address, 3)
    a.say("hello")
    b.expect("[1] hello")
    c.expect("[1] hello")
    c.say("hi from three")
    a.expect("[3] hi from three")
    b.expect("[3] hi from three")
    assert a.quiet() and b.quiet() and c.quiet()
    close_all([a, b, c])


def test_one_trailing_carriage_return_is_removed(address):
    a, b = join_all(*address, 2)
    a.send(b"telnet line\r\n")
    b.expect("[1] telnet line")
    a.send(b"two returns\r\r\n")
    b.expect(b"[1] two returns\r")
    a.send(b"\n")
    b.expect(b"[1] ")  # an empty line is a line
    a.send(b"bytes \x00\xff\x01 pass through\n")
    b.expect(b"[1] bytes \x00\xff\x01 pass through")
    close_all([a, b])


def test_lines_split_over_many_segments_and_many_lines_in_one(address):
    a, b = join_all(*address, 2)
    a.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    for piece in [b"hel", b"lo wo", b"rld\nsec", b"ond\nthi", b"rd", b"\n"]:
        a.send(piece)
        time.sleep(0.02)  # so that the pieces travel, and arrive, separately
    a.send(b"four\nfive\nsix\nseven\n")
    for expected in ["hello world", "second", "third", "four", "five", "six", "seven"]:
        b.expect(f"[1] {expected}")
    close_all([a, b])


def test_a_clean_leave_is_announced(address):
    a, b, c = join_all(*address, 3)
    b.close()
    a.expect("* client 2 left")
    c.expect("* client 2 left")
    close_all([a, c])


def test_the_log_names_each_client_that_leaves_once(server, address):
    """The server's log agrees with the protocol: one "connected" and one "disconnected" line
    per client, each with that client's own number — whichever order they leave in."""
    members = join_all(*address, 4)
    for member in (members[2], members[0], members[3], members[1]):
        member.close()
        server.wait_for_line(rf"^client {member.id} disconnected: ")
    server.wait_for_line(r"\(0 live\)$")
    for number in range(1, 5):
        left = [line for line in server.stdout_lines
                if line.startswith(f"client {number} disconnected: ")]
        assert len(left) == 1, f"client {number} left {len(left)} times by the log\n" + \
            server.output_text()


def test_a_reset_is_announced_as_leaving(address):
    a, b, c = join_all(*address, 3)
    b.reset()
    a.expect("* client 2 left")
    c.expect("* client 2 left")
    a.say("still talking")
    c.expect("[1] still talking")
    close_all([a, c])


def test_a_line_of_exactly_4096_bytes_is_fine(address):
    a, b = join_all(*address, 2)
    line = bytes((65 + i % 26) for i in range(MAX_LINE))
    a.send(line + b"\r\n")
    b.expect(b"[1] " + line)
    close_all([a, b])


@pytest.mark.parametrize("ending", [b"\n", b"", b"more and more" * 100],
                         ids=["with-newline", "no-newline", "still-sending"])
def test_a_line_over_4096_bytes_ends_only_its_sender(address, ending):
    a, b, c = join_all(*address, 3)
    a.send(b"x" * (MAX_LINE + 1) + ending)
    a.expect("* error: line too long")
    a.expect_eof()
    b.expect("* client 1 left")
    c.expect("* client 1 left")
    b.say("unaffected")
    c.expect("[2] unaffected")
    close_all([a, b, c])


def test_50_clients_each_send_20_lines_and_everyone_gets_all_in_order(address):
    count, lines_each = 50, 20
    members = join_all(*address, count)
    received: dict[int, list[bytes]] = {}
    errors: list[BaseException] = []

    def reader(member):
        try:
            got = [member.read_line() for _ in range((count - 1) * lines_each)]
            received[member.id] = got
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=reader, args=(m,), daemon=True) for m in members]
    for thread in threads:
        thread.start()
    for number in range(lines_each):
        for member in members:
            member.say(f"line {number:02d} from {member.id:02d} " + "." * member.id)
    for thread in threads:
        thread.join(120)
    assert not errors, f"a reader failed: {errors[0]}"
    for member in members:
        got = received[member.id]
        assert len(got) == (count - 1) * lines_each
        for sender in members:
            from_sender = [line for line in got if line.startswith(f"[{sender.id}] ".encode())]
            if sender is member:
                assert from_sender == [], f"client {member.id} got its own lines back"
                continue
            expected = [f"[{sender.id}] line {n:02d} from {sender.id:02d} ".encode() +
                        b"." * sender.id for n in range(lines_each)]
            assert from_sender == expected, \
                f"client {member.id} got client {sender.id}'s lines wrong or out of order"
    close_all(members)


def test_a_member_resets_while_others_talk(address):
    a, b, c = join_all(*address, 3)
    for n in range(50):
        a.say(f"a{n}")
        b.say(f"b{n}")
        if n == 25:
            c.reset()
    got_by_a = [a.read_line() for _ in range(51)]
    got_by_b = [b.read_line() for _ in range(51)]
    assert b"* client 3 left" in got_by_a and b"* client 3 left" in got_by_b
    assert [l for l in got_by_a if l.startswith(b"[2]")] == [f"[2] b{n}".encode() for n in range(50)]
    assert [l for l in got_by_b if l.startswith(b"[1]")] == [f"[1] a{n}".encode() for n in range(50)]
    close_all([a, b])


def test_a_client_that_never_reads_is_dropped_and_nobody_waits_for_it(server, address):
    """The taught limit of broadcasting: a member that stops reading. Its outbox grows to its
    bound, then it is dropped ("* client N left" to the others); the talker and the listener go
    on at full speed meanwhile, and receive every line, in order."""
    talker, listener, deaf = join_all(*address, 3)
    deaf.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # it never reads anyway
    line = b"y" * 2000
    sent, got, dropped_at = 0, 0, None
    errors: list[BaseException] = []
    done = threading.Event()

    def listen():
        nonlocal got, dropped_at
        try:
            while not done.is_set() or got < sent:
                text = listener.read_line()
                if text == b"* client 3 left":
                    dropped_at = got
                    continue
                assert text == b"[1] " + line + b" %d" % got, f"line {got} came wrong"
                got += 1
        except BaseException as error:
            errors.append(error)

    reader = threading.Thread(target=listen, daemon=True)
    reader.start()
    # Talk until the deaf member has been dropped (the listener heard it leave), with a cap.
    # The talker stays at most 40 lines (80 KB) ahead of the listener: the listener reads, so it
    # must never be dropped, however slow this Python client is next to the server.
    while dropped_at is None and sent < 20000 and not errors:
        while sent - got > 40 and not errors:
            time.sleep(0.001)
        talker.say(line + b" %d" % sent)
        sent += 1
    done.set()
    reader.join(120)
    assert not errors, str(errors[0])
    assert dropped_at is not None, f"the deaf client was never dropped after {sent} lines"
    print(f"dropped after {dropped_at} lines of {len(line)} bytes")
    assert got == sent, f"the listener got {got} of {sent} lines"
    server.wait_for_line(r"^client 3 dropped: it stopped reading")
    talker.expect("* client 3 left")  # the talker hears of the drop, never its own lines
    assert talker.quiet(0.1)
    close_all([talker, listener, deaf])
