using AkkaTcpTransfer.Protocol;
using AkkaTcpTransfer.Tests.Support;
using ChatFrame = AkkaTcpTransfer.Protocol.Chat;
using HistoryFrame = AkkaTcpTransfer.Protocol.History;
using NameRegistration = AkkaTcpTransfer.Events.NameRegistration;

namespace AkkaTcpTransfer.Tests.EndToEnd;

/// <summary>Names that stay their owner's, and direct messages kept for the offline, against a real server and its
/// database (restarted where the test says so), spoken by raw clients.</summary>
public sealed class NameAndMailboxTests
{
    private static readonly TimeSpan Quiet = TimeSpan.FromMilliseconds(300);

    [Fact]
    public async Task A_name_stays_its_first_users_until_released()
    {
        await using var nodes = new TestNodes();
        var (server, _) = await nodes.StartServer();
        var alice = await RawClient.JoinAsync(server.Port, "alice");
        Assert.True(alice.Welcome!.Registered);
        var key = alice.Welcome.ResumeKey;
        await alice.DisposeAsync();

        // Someone else, with no key (or another), cannot take it, nor a look-alike of it, while alice is away.
        foreach (var name in new[] { "alice", "ALICE", "аlice" })
        {
            await using var impostor = await RawClient.ConnectAsync(server.Port);
            await impostor.SendAsync(new Hello(ProtocolLimits.Version, 1 << 20, name, "", []));
            var refused = Assert.IsType<Refused>(await impostor.ReceiveAsync());
            Assert.Equal(WireCode.NameTaken, refused.Code);
            Assert.Contains("registered to someone else", refused.Reason, StringComparison.Ordinal);
        }

        // Its owner can; and can let it go, after which it is anyone's once the owner has left.
        var owner = await RawClient.JoinAsync(server.Port, "alice", resumeKey: key);
        Assert.True(owner.Welcome!.Registered);
        await owner.SendAsync(Unregister.Instance);
        var status = await owner.Expect<NameStatus>();
        Assert.False(status.Registered);
        await owner.DisposeAsync();
        await using var other = await WaitUntilAdmitted(server.Port, "alice");
        Assert.True(other.Welcome!.Registered);
        Assert.NotEqual(Convert.ToHexString(key), Convert.ToHexString(other.Welcome.ResumeKey));
    }

    [Fact]
    public async Task The_operator_frees_a_registered_name_and_someone_else_takes_it()
    {
        await using var nodes = new TestNodes();
        var (server, log) = await nodes.StartServer();
        var alice = await RawClient.JoinAsync(server.Port, "alice");
        var key = alice.Welcome!.ResumeKey;
        await alice.DisposeAsync();

        server.Commands.Tell(new NodeCommands.FreeName("nobody"));
        Assert.Contains("not registered", (await log.WaitFor<NameRegistration>(n => n.Name == "nobody")).Reason, StringComparison.Ordinal);
        server.Commands.Tell(new NodeCommands.FreeName("ALICE"));
        var freed = await log.WaitFor<NameRegistration>(n => n.Name == "alice");
        Assert.False(freed.Registered);
        Assert.Contains("is free", freed.Reason, StringComparison.Ordinal);

        // Someone else may take it now (and it is registered to them); alice's old key is just another newcomer's.
        await using var other = await WaitUntilAdmitted(server.Port, "alice");
        Assert.True(other.Welcome!.Registered);
        Assert.NotEqual(Convert.ToHexString(key), Convert.ToHexString(other.Welcome.ResumeKey));
    }

    /// <summary>A client joining as <paramref name="name"/>, retried while the server still holds the name for a
    /// connection it has not yet seen close.</summary>
    private static async Task<RawClient> WaitUntilAdmitted(int port, string name)
    {
        var deadline = DateTime.UtcNow + EventLog.DefaultTimeout;
        while (true)
        {
            var client = await RawClient.ConnectAsync(port);
            await client.SendAsync(new Hello(ProtocolLimits.Version, 1 << 20, name, "", []));
            var answer = await client.ReceiveAsync();
            if (answer is Welcome welcome)
            {
                await client.DisposeAsync();
                return await RawClient.JoinAsync(port, name, resumeKey: welcome.ResumeKey);
            }
            await client.DisposeAsync();
            if (DateTime.UtcNow > deadline) throw new TimeoutException($"'{name}' was never admitted: {answer}");
            await Task.Delay(50);
        }
    }

    /// <summary>Joins as <paramref name="name"/> once <paramref name="gone"/> is offline as far as the server knows (a
    /// client that just closed its socket may still be online for a moment).</summary>
    private static async Task<RawClient> JoinOnceGone(int port, string name, string gone, byte[]? resumeKey = null)
    {
        var client = await RawClient.JoinAsync(port, name, resumeKey: resumeKey);
        if (client.Welcome!.Peers.Contains(gone)) await client.Expect<PeerLeft>(p => p.Name == gone);
        return client;
    }

    [Fact]
    public async Task A_message_to_someone_offline_waits_for_them_across_a_server_restart_and_comes_before_live_ones()
    {
        await using var nodes = new TestNodes();
        var (server, _) = await nodes.StartServer();
        var alice = await RawClient.JoinAsync(server.Port, "alice");
        var key = alice.Welcome!.ResumeKey;
        await alice.DisposeAsync();

        var bob = await JoinOnceGone(server.Port, "bob", "alice");
        var bobKey = bob.Welcome!.ResumeKey;
        await bob.SendAsync(new Say(1, "alice", "call me"));
        var held = await bob.Expect<SayAck>();
        Assert.True(held.Held);
        await bob.SendAsync(new Say(2, "alice", "please"));
        Assert.True((await bob.Expect<SayAck>()).Held);
        // Nobody called dave is online or registered: refused as ever.
        await bob.SendAsync(new Say(3, "dave", "hello?"));
        Assert.Equal(WireCode.UnknownPeer, (await bob.Expect<SayRefused>()).Code);
        await bob.DisposeAsync();

        // The server goes and comes back with the same state folder: the messages were stored before "sent".
        var state = server.Settings.StateDir;
        await server.StopAsync();
        var (again, _) = await nodes.StartServer(("state-dir", state));

        await using var bobAgain = await RawClient.JoinAsync(again.Port, "bob", resumeKey: bobKey);
        await using var aliceAgain = await RawClient.JoinAsync(again.Port, "alice", resumeKey: key);
        var frames = await RoomTests.Until<HistoryEnd>(aliceAgain, e => e.Target == "alice");
        var kept = frames.OfType<HistoryFrame>().Where(h => h.To == "alice").ToList();
        Assert.Equal(["call me", "please"], kept.Select(h => h.Text));
        Assert.All(kept, h => Assert.Equal("bob", h.From));
        Assert.Equal(held.AtUnixMs, kept[0].AtUnixMs);

        // Now live, and not again on the next connection.
        await bobAgain.SendAsync(new Say(4, "alice", "you're back"));
        Assert.False((await bobAgain.Expect<SayAck>()).Held);
        Assert.Equal("you're back", (await aliceAgain.Expect<ChatFrame>()).Text);
        await aliceAgain.DisposeAsync();
        await bobAgain.Expect<PeerLeft>(p => p.Name == "alice");
        await using var thirdTime = await RawClient.JoinAsync(again.Port, "alice", resumeKey: key);
        Assert.DoesNotContain(await thirdTime.ReceiveUntilQuietAsync(Quiet), f => f is HistoryFrame { To: "alice" });
    }

    [Fact]
    public async Task An_offline_mailbox_holds_a_bounded_number_of_messages()
    {
        await using var nodes = new TestNodes();
        var (server, _) = await nodes.StartServer(("history.offline-max-messages", "2"));
        var alice = await RawClient.JoinAsync(server.Port, "alice");
        await alice.DisposeAsync();
        await using var bob = await JoinOnceGone(server.Port, "bob", "alice");
        for (uint i = 1; i <= 2; i++)
        {
            await bob.SendAsync(new Say(i, "alice", $"message {i}"));
            Assert.True((await bob.Expect<SayAck>()).Held);
        }
        await bob.SendAsync(new Say(3, "alice", "one too many"));
        var refused = await bob.Expect<SayRefused>();
        Assert.Equal((3u, WireCode.LimitReached), (refused.Id, refused.Code));
    }

    [Fact]
    public async Task A_full_database_refuses_a_line_clearly_and_stores_nothing_of_it()
    {
        await using var nodes = new TestNodes();
        // A database capped just above what the server needs to start: a long line does not fit.
        var (server, _) = await nodes.StartServer(("store.max-size", "160k"), ("chat.max-message-bytes", "60k"), ("protocol.max-frame-size", "72k"));
        await using var alice = await RawClient.JoinAsync(server.Port, "alice");
        await using var bob = await RawClient.JoinAsync(server.Port, "bob");
        await RoomTests.Join(alice, "#full");
        await RoomTests.Join(bob, "#full");
        var big = new string('x', 60_000);
        var acked = 0;
        for (uint i = 1; ; i++)
        {
            await alice.SendAsync(new Say(i, "#full", big));
            var answer = await RoomTests.Until<Frame>(alice, f => f is SayAck or SayRefused);
            if (answer[^1] is SayRefused refused)
            {
                // The answer to this very line, and the only one it gets: never an acknowledgement, then a refusal.
                Assert.Equal((i, WireCode.NotStored), (refused.Id, refused.Code));
                Assert.Contains("is full", refused.Reason, StringComparison.Ordinal);
                break;
            }
            Assert.Equal(i, ((SayAck)answer[^1]).Id);
            acked++;
            Assert.True(i < 10, "the database never filled");
        }
        // What was refused reached nobody; what was acknowledged is exactly what is stored.
        var delivered = (await bob.ReceiveUntilQuietAsync(Quiet)).OfType<ChatFrame>().Count();
        await alice.SendAsync(new HistoryRequest("#full", 0, 100));
        var history = await RoomTests.Until<HistoryEnd>(alice, e => e.Target == "#full");
        Assert.DoesNotContain(history, f => f is SayAck);
        var stored = history.OfType<HistoryFrame>().Count();
        Assert.Equal((acked, acked), (stored, delivered));
        await alice.SendAsync(new Say(99, "#full", "short"));
        var last = await RoomTests.Until<Frame>(alice, f => f is SayAck or SayRefused);
        Assert.True(last[^1] is SayAck or SayRefused { Code: WireCode.NotStored });
    }
}
