using AkkaTcpTransfer.Protocol;
using AkkaTcpTransfer.Tests.Support;
using ChatFrame = AkkaTcpTransfer.Protocol.Chat;
using HistoryFrame = AkkaTcpTransfer.Protocol.History;

namespace AkkaTcpTransfer.Tests.EndToEnd;

/// <summary>Rooms over the wire, against a real server with its SQLite database, spoken by a raw client (as a client in
/// another language would): joining makes a room, lines reach members only, each in its room and in order, a member
/// who comes back gets what it missed, before anything live; history pages back to the first line.</summary>
public sealed class RoomTests
{
    private static readonly TimeSpan Quiet = TimeSpan.FromMilliseconds(300);

    /// <summary>Frames up to and including the first <typeparamref name="T"/> that matches.</summary>
    internal static async Task<List<Frame>> Until<T>(RawClient client, Func<T, bool>? match = null) where T : Frame
    {
        var frames = new List<Frame>();
        while (true)
        {
            var frame = await client.ReceiveAsync() ?? throw new InvalidOperationException($"connection closed waiting for {typeof(T).Name} after {string.Join(", ", frames)}");
            frames.Add(frame);
            if (frame is T t && (match?.Invoke(t) ?? true)) return frames;
        }
    }

    /// <summary>Joins <paramref name="room"/> and reads the answer up to the end of its scrollback: the history lines.</summary>
    internal static async Task<(RoomJoined Joined, List<HistoryFrame> Lines, HistoryEnd End)> Join(RawClient client, string room)
    {
        await client.SendAsync(new JoinRoom(room));
        var joined = await client.Expect<RoomJoined>();
        var frames = await Until<HistoryEnd>(client, e => e.Target == joined.Room);
        return (joined, [.. frames.OfType<HistoryFrame>().Where(h => h.To == joined.Room)], (HistoryEnd)frames[^1]);
    }

    [Fact]
    public async Task A_line_to_a_room_reaches_its_members_and_nobody_else()
    {
        await using var nodes = new TestNodes();
        var (server, _) = await nodes.StartServer();
        await using var alice = await RawClient.JoinAsync(server.Port, "alice");
        await using var bob = await RawClient.JoinAsync(server.Port, "bob");
        await using var carol = await RawClient.JoinAsync(server.Port, "carol");

        var (made, lines, _) = await Join(alice, "#Rust");
        Assert.Equal(("#Rust", 1, false), (made.Room, made.Members, made.Rejoined));
        Assert.Empty(lines);
        // Another spelling of the same room (case, a look-alike letter) is the same room, spelled as its maker did.
        var (joined, _, _) = await Join(bob, "#ruѕt");
        Assert.Equal(("#Rust", 2), (joined.Room, joined.Members));
        Assert.Equal("bob", (await alice.Expect<MemberJoined>()).Name);

        await alice.SendAsync(new Say(1, "#rust", "fearless"));
        var ack = await alice.Expect<SayAck>();
        Assert.Equal((1u, false), (ack.Id, ack.Held));
        var chat = await bob.Expect<ChatFrame>();
        Assert.Equal(("alice", "#Rust", "fearless", ack.AtUnixMs), (chat.From, chat.To, chat.Text, chat.AtUnixMs));

        // Not a member: refused, and it reaches nobody.
        await carol.SendAsync(new Say(1, "#Rust", "let me in"));
        Assert.Equal(WireCode.NotMember, (await carol.Expect<SayRefused>()).Code);
        Assert.DoesNotContain(await bob.ReceiveUntilQuietAsync(Quiet), f => f is ChatFrame { Text: "let me in" });
        Assert.DoesNotContain(await carol.ReceiveUntilQuietAsync(Quiet), f => f is ChatFrame { Text: "fearless" });
    }

    [Fact]
    public async Task Requests_after_a_join_or_a_leave_are_handled_after_it()
    {
        await using var nodes = new TestNodes();
        var (server, _) = await nodes.StartServer();
        await using var alice = await RawClient.JoinAsync(server.Port, "alice");
        // In one write: join, a line to the room, its history; then leave and a line after it.
        await alice.SendRawAsync([.. FrameEncoder.Encode(new JoinRoom("#now")), .. FrameEncoder.Encode(new Say(1, "#now", "first words")),
            .. FrameEncoder.Encode(new HistoryRequest("#now", 0, 10))]);
        // The join's answer and scrollback come first, then the line's answer, then the page, which holds the line.
        var before = await Until<Frame>(alice, f => f is SayAck or SayRefused);
        Assert.True(before[^1] is SayAck, string.Join(", ", before));
        var page = await Until<HistoryEnd>(alice, e => e.Target == "#now");
        Assert.Contains(page, f => f is HistoryFrame { Text: "first words" });
        await alice.SendRawAsync([.. FrameEncoder.Encode(new LeaveRoom("#now")), .. FrameEncoder.Encode(new Say(2, "#now", "too late"))]);
        Assert.Equal(WireCode.NotMember, (await alice.Expect<SayRefused>()).Code);
    }

    [Fact]
    public async Task A_member_who_comes_back_gets_what_was_said_meanwhile_before_anything_live()
    {
        await using var nodes = new TestNodes();
        var (server, _) = await nodes.StartServer();
        var alice = await RawClient.JoinAsync(server.Port, "alice");
        var key = alice.Welcome!.ResumeKey;
        await using var bob = await RawClient.JoinAsync(server.Port, "bob");
        await Join(alice, "#ops");
        await Join(bob, "#ops");
        await alice.DisposeAsync();
        await bob.Expect<PeerLeft>(p => p.Name == "alice");

        for (var i = 1; i <= 3; i++)
        {
            await bob.SendAsync(new Say((uint)i, "#ops", $"while you were away {i}"));
            await bob.Expect<SayAck>(a => a.Id == (uint)i);
        }
        await using var back = await RawClient.JoinAsync(server.Port, "alice", resumeKey: key);
        Assert.True(back.Welcome!.Registered);
        await bob.SendAsync(new Say(9, "#ops", "welcome back"));
        var frames = await Until<ChatFrame>(back, c => c.Text == "welcome back");
        var rejoined = Assert.Single(frames.OfType<RoomJoined>());
        Assert.True(rejoined.Rejoined);
        var history = frames.OfType<HistoryFrame>().Where(h => h.To == "#ops").Select(h => h.Text).ToList();
        Assert.Equal(["while you were away 1", "while you were away 2", "while you were away 3"], history);
        // The scrollback ended before the live line.
        Assert.True(frames.FindIndex(f => f is HistoryEnd { Target: "#ops" }) < frames.FindIndex(f => f is ChatFrame));
    }

    [Fact]
    public async Task History_pages_back_to_the_first_line_of_a_room()
    {
        await using var nodes = new TestNodes();
        var (server, _) = await nodes.StartServer(("history.scrollback", "5"));
        await using var alice = await RawClient.JoinAsync(server.Port, "alice");
        await Join(alice, "#log");
        for (var i = 1; i <= 30; i++)
        {
            await alice.SendAsync(new Say((uint)i, "#log", $"line {i}"));
            await alice.Expect<SayAck>(a => a.Id == (uint)i);
        }
        // Joining again shows the newest five only.
        var (_, recent, end) = await Join(alice, "#log");
        Assert.Equal(Enumerable.Range(26, 5).Select(i => $"line {i}"), recent.Select(l => l.Text));
        Assert.True(end.More);

        var seen = recent.Select(l => l.Text).ToList();
        var before = end.Oldest;
        var pages = 0;
        while (true)
        {
            await alice.SendAsync(new HistoryRequest("#log", before, 10));
            var frames = await Until<HistoryEnd>(alice, e => e.Target == "#log");
            var page = frames.OfType<HistoryFrame>().ToList();
            Assert.InRange(page.Count, 0, 10);
            Assert.True(page.Select(l => l.Seq).SequenceEqual(page.Select(l => l.Seq).Order()), "a page comes oldest first");
            seen.InsertRange(0, page.Select(l => l.Text));
            var pageEnd = (HistoryEnd)frames[^1];
            pages++;
            if (!pageEnd.More) break;
            before = pageEnd.Oldest;
            Assert.True(pages < 10, "history never ended");
        }
        Assert.Equal(Enumerable.Range(1, 30).Select(i => $"line {i}"), seen);
    }

    [Fact]
    public async Task Only_members_read_a_rooms_history_and_set_its_topic()
    {
        await using var nodes = new TestNodes();
        var (server, _) = await nodes.StartServer();
        await using var alice = await RawClient.JoinAsync(server.Port, "alice");
        await using var eve = await RawClient.JoinAsync(server.Port, "eve");
        await Join(alice, "#secret");
        await alice.SendAsync(new Say(1, "#secret", "the plan"));
        await alice.Expect<SayAck>();

        await eve.SendAsync(new HistoryRequest("#secret", 0, 50));
        Assert.Equal(WireCode.NotMember, (await eve.Expect<RoomRefused>()).Code);
        await eve.SendAsync(new SetTopic("#secret", "eve was here"));
        Assert.Equal(WireCode.NotMember, (await eve.Expect<RoomRefused>()).Code);
        Assert.DoesNotContain(await eve.ReceiveUntilQuietAsync(Quiet), f => f is HistoryFrame { Text: "the plan" });

        await alice.SendAsync(new SetTopic("#secret", "plans, quietly"));
        var topic = await alice.Expect<RoomTopic>();
        Assert.Equal(("#secret", "alice", "plans, quietly"), (topic.Room, topic.By, topic.Topic));
        await eve.SendAsync(RoomsRequest.Instance);
        var listed = Assert.Single((await eve.Expect<RoomList>()).Rooms);
        Assert.Equal(new RoomInfo("#secret", 1, "plans, quietly"), listed);
    }

    [Fact]
    public async Task The_last_member_to_leave_closes_the_room_and_its_history_goes()
    {
        await using var nodes = new TestNodes();
        var (server, _) = await nodes.StartServer();
        await using var alice = await RawClient.JoinAsync(server.Port, "alice");
        await using var bob = await RawClient.JoinAsync(server.Port, "bob");
        await Join(alice, "#tmp");
        await Join(bob, "#tmp");
        await alice.SendAsync(new Say(1, "#tmp", "ephemeral"));
        await alice.Expect<SayAck>();

        await bob.SendAsync(new LeaveRoom("#tmp"));
        Assert.Equal(WireCode.Normal, (await bob.Expect<RoomLeft>()).Code);
        Assert.Equal("bob", (await alice.Expect<MemberLeft>()).Name);
        await bob.SendAsync(new Say(2, "#tmp", "still here?"));
        Assert.Equal(WireCode.NotMember, (await bob.Expect<SayRefused>()).Code);
        await alice.SendAsync(new LeaveRoom("#tmp"));
        await alice.Expect<RoomLeft>();

        await alice.SendAsync(RoomsRequest.Instance);
        Assert.Empty((await alice.Expect<RoomList>()).Rooms);
        var (again, lines, _) = await Join(alice, "#tmp");
        Assert.Equal(1, again.Members);
        Assert.Empty(lines);
    }

    [Fact]
    public async Task Room_limits_are_kept_and_a_look_alike_room_is_refused()
    {
        await using var nodes = new TestNodes();
        var (server, _) = await nodes.StartServer(("rooms.per-client", "2"), ("rooms.members-per-room", "1"));
        await using var alice = await RawClient.JoinAsync(server.Port, "alice");
        await using var bob = await RawClient.JoinAsync(server.Port, "bob");
        await Join(alice, "#Ian");
        await alice.SendAsync(new JoinRoom("#lan"));
        var lookalike = await alice.Expect<RoomRefused>();
        Assert.Equal(WireCode.InvalidName, lookalike.Code);
        Assert.Contains("looks like #Ian", lookalike.Reason, StringComparison.Ordinal);

        await Join(alice, "#two");
        await alice.SendAsync(new JoinRoom("#three"));
        Assert.Equal(WireCode.LimitReached, (await alice.Expect<RoomRefused>()).Code);
        await bob.SendAsync(new JoinRoom("#two"));
        Assert.Equal(WireCode.LimitReached, (await bob.Expect<RoomRefused>()).Code);
        await bob.SendAsync(new JoinRoom("#bad name"));
        Assert.Equal(WireCode.InvalidName, (await bob.Expect<RoomRefused>()).Code);
    }

    [Fact]
    public async Task Retention_deletes_what_is_past_a_rooms_line_limit_from_the_database()
    {
        await using var nodes = new TestNodes();
        var (server, _) = await nodes.StartServer(("history.room-max-lines", "20"), ("history.snapshot-every", "10"), ("history.scrollback", "5"));
        await using var alice = await RawClient.JoinAsync(server.Port, "alice");
        await Join(alice, "#busy");
        for (var i = 1; i <= 100; i++)
        {
            await alice.SendAsync(new Say((uint)i, "#busy", $"line {i}"));
            await alice.Expect<SayAck>(a => a.Id == (uint)i);
        }
        // Deletion follows the snapshots, a moment after the lines: wait for the rows to go.
        var db = Path.Combine(server.Settings.StateDir, "chat.db");
        var deadline = DateTime.UtcNow + EventLog.DefaultTimeout;
        long rows;
        while ((rows = CountRows(db, "room:busy")) > 20 + 10 + 1)
        {
            Assert.True(DateTime.UtcNow < deadline, $"{rows} events of #busy are still stored");
            await Task.Delay(50);
        }
        // What is left still pages, and ends where retention cut.
        var pages = new List<string>();
        long before = 0;
        while (true)
        {
            await alice.SendAsync(new HistoryRequest("#busy", before, 50));
            var frames = await Until<HistoryEnd>(alice, e => e.Target == "#busy");
            pages.InsertRange(0, frames.OfType<HistoryFrame>().Select(h => h.Text));
            var end = (HistoryEnd)frames[^1];
            if (!end.More) break;
            before = end.Oldest;
        }
        Assert.InRange(pages.Count, 20 - 2, 31);
        Assert.Equal("line 100", pages[^1]);
    }

    private static long CountRows(string db, string persistenceId)
    {
        using var connection = new Microsoft.Data.Sqlite.SqliteConnection($"Data Source={db};Mode=ReadOnly");
        connection.Open();
        using var count = connection.CreateCommand();
        count.CommandText = "SELECT COUNT(*) FROM attp_events WHERE persistence_id = $pid AND deleted = 0";
        count.Parameters.AddWithValue("$pid", persistenceId);
        return (long)count.ExecuteScalar()!;
    }

    [Fact]
    public async Task A_line_to_the_server_wide_room_is_history_for_the_next_to_arrive()
    {
        await using var nodes = new TestNodes();
        var (server, _) = await nodes.StartServer();
        await using var alice = await RawClient.JoinAsync(server.Port, "alice");
        await alice.SendAsync(new Say(1, "", "hello, whoever comes"));
        await alice.Expect<SayAck>();
        await using var bob = await RawClient.JoinAsync(server.Port, "bob");
        var frames = await Until<HistoryEnd>(bob, e => e.Target == "");
        var line = Assert.Single(frames.OfType<HistoryFrame>());
        Assert.Equal(("alice", "", "hello, whoever comes"), (line.From, line.To, line.Text));
    }
}
