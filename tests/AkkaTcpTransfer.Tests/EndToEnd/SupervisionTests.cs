using System.Security.Cryptography;
using AkkaTcpTransfer.Events;
using AkkaTcpTransfer.Protocol;
using AkkaTcpTransfer.Tests.Support;
using AkkaTcpTransfer.Transfer;

namespace AkkaTcpTransfer.Tests.EndToEnd;

/// <summary>Actors fail on purpose: a transfer, connection or session actor that fails is stopped, never restarted into
/// a half state, and what it was doing ends cleanly at both ends with a reason. Each test kills one actor of a running
/// server (Akka's Kill makes it throw) and checks both ends.</summary>
public sealed class SupervisionTests() : NodesAndFiles(new TestNodes { ExpectErrors = true }) // the killed actors' failures are logged as errors
{
    private static async Task<IActorRef> Find(ActorSystem system, string path) =>
        await system.ActorSelection(path).ResolveOne(EventLog.DefaultTimeout);

    [Fact]
    public async Task A_receiver_that_fails_mid_transfer_fails_it_at_both_ends_and_leaves_no_partial_locked()
    {
        var downloads = Files.Dir("dl");
        var (server, serverLog) = await Nodes.StartServer(("downloads", downloads));
        await using var raw = await RawClient.JoinAsync(server.Port, "alice");
        await raw.SendAsync(new Offer(61, "", [], "server", "victim.bin", 1 << 20, 1));
        var accept = await raw.Expect<Accept>(a => a.Id == 61);
        await raw.SendAsync(new Start(61, 0, 4 * 65536)); // an ack per 64 KiB
        await raw.SendAsync(new Chunk(61, 0, RandomNumberGenerator.GetBytes(65536)));
        await raw.Expect<Ack>(a => a.Id == 61);

        var receiver = await Find(server.System, "/user/server/listener/*/recv-0000003d");
        using var watch = new CancellationTokenSource(EventLog.DefaultTimeout);
        var terminated = receiver.WatchAsync(watch.Token);
        receiver.Tell(Kill.Instance);

        // The receiver was stopped, not restarted (a restarted actor is the same one, still alive), the sender is told,
        // and the server reports it.
        Assert.True(await terminated);
        var fail = await raw.Expect<Fail>(f => f.Id == 61);
        Assert.Contains("stopped unexpectedly", fail.Reason, StringComparison.Ordinal);
        Assert.Contains("stopped unexpectedly", (await serverLog.WaitFor<TransferFailed>(f => f.Id == TransferIds.Format(61))).Reason, StringComparison.Ordinal);
        Assert.Empty(Files.Partials(downloads));
        // The slot and the id are free again, and the connection is fine: the next Accept is for the new offer.
        await raw.SendAsync(new Offer(61, "", [], "server", "again.bin", 10, 1));
        Frame? next;
        while ((next = await raw.ReceiveAsync()) is not Accept) Assert.False(next is Reject, $"{next}");
        Assert.Equal(61u, ((Accept)next).Id);
    }

    [Fact]
    public async Task A_sender_that_fails_mid_transfer_fails_it_at_both_ends()
    {
        var (server, serverLog) = await Nodes.StartServer(("transfer.window", "64k"));
        await using var bob = await RawClient.JoinAsync(server.Port, "bob");
        server.Commands.Tell(new NodeCommands.SendFile("bob", Files.Create("src/big.bin", 4 << 20)));
        var offer = await bob.Expect<Offer>();
        await bob.SendAsync(new Accept(offer.Id, 0, [], 65536, 65536));
        await bob.Expect<Chunk>(c => c.Id == offer.Id); // a window's worth, then the sender waits for an Ack

        var sender = await Find(server.System, $"/user/server/listener/*/send-{TransferIds.Format(offer.Id)}");
        sender.Tell(Kill.Instance);

        Assert.Contains("stopped unexpectedly", (await bob.Expect<Fail>(f => f.Id == offer.Id)).Reason, StringComparison.Ordinal);
        await serverLog.WaitFor<TransferFailed>(f => f.Id == TransferIds.Format(offer.Id));
        // The server's outgoing work is over: nothing hangs waiting for that transfer.
        var summary = await server.OutgoingDoneAsync().WaitAsync(EventLog.DefaultTimeout);
        Assert.Equal(1, summary.Failed);
    }

    [Fact]
    public async Task A_connection_actor_that_fails_ends_that_session_and_the_client_comes_back()
    {
        var (server, serverLog) = await Nodes.StartServer();
        var (alice, aliceLog) = await Nodes.StartClient("alice", server.Port);
        var (bob, bobLog) = await Nodes.StartClient("bob", server.Port);
        await aliceLog.WaitFor<Events.PeerJoined>(p => p.Name == "bob");
        var mark = bobLog.Mark();
        var connection = await Find(server.System, "/user/server/listener/peer-1/connection");
        connection.Tell(Kill.Instance);
        // alice's session ends (everyone sees her leave), her client notices and reconnects by itself.
        var aliceMark = aliceLog.Mark();
        await bobLog.WaitFor<Events.PeerLeft>(p => p.Name == "alice", after: mark);
        await aliceLog.WaitFor<Disconnected>(after: aliceMark);
        await aliceLog.WaitFor<Connected>(after: aliceMark);
        alice.Commands.Tell(new NodeCommands.Say("back"));
        await bobLog.WaitFor<ChatReceived>(c => c.Text == "back");
    }

    [Fact]
    public async Task A_session_actor_that_fails_closes_its_connection_and_nobody_else_notices()
    {
        var (server, serverLog) = await Nodes.StartServer();
        var (alice, aliceLog) = await Nodes.StartClient("alice", server.Port);
        var (bob, bobLog) = await Nodes.StartClient("bob", server.Port);
        await aliceLog.WaitFor<Events.PeerJoined>(p => p.Name == "bob");
        var session = await Find(server.System, "/user/server/listener/peer-1");
        session.Tell(Kill.Instance);
        await aliceLog.WaitFor<Disconnected>();
        await bobLog.WaitFor<Events.PeerLeft>(p => p.Name == "alice");
        bob.Commands.Tell(new NodeCommands.Say("unaffected"));
        await serverLog.WaitFor<ChatReceived>(c => c.Text == "unaffected");
    }

    [Fact]
    public async Task A_client_session_that_fails_is_a_lost_connection_its_lines_are_answered_and_the_client_comes_back()
    {
        // The client's tree is the server's: its root, one session per connection, the connection under it.
        var (server, serverLog) = await Nodes.StartServer(("limits.chat-per-second", "1"), ("limits.chat-burst", "1"));
        var (alice, aliceLog) = await Nodes.StartClient("alice", server.Port);
        await Find(alice.System, "/user/client/session-1/connection");
        // A paste: one line leaves at the pace the server announced, the others wait in the session's outbox.
        for (var i = 1; i <= 5; i++) alice.Commands.Tell(new NodeCommands.Say($"line {i}"));
        await aliceLog.WaitFor<ChatQueue>(q => q.Waiting > 0);
        var mark = aliceLog.Mark();

        (await Find(alice.System, "/user/client/session-1")).Tell(Kill.Instance);

        // Stopped, not restarted, and for the client a lost connection: it says so and reconnects.
        var lost = await aliceLog.WaitFor<Disconnected>(after: mark);
        Assert.True(lost.WillReconnect);
        Assert.Contains("the session with the server failed (ActorKilledException", lost.Reason, StringComparison.Ordinal);
        // Every line still got its one answer: sent, or not sent because the session ended.
        for (var line = 1; line <= 5; line++)
        {
            var number = line;
            await aliceLog.WaitFor<NodeEvent>(e => e is ChatSent s && s.Line == number || e is ChatNotSent n && n.Line == number);
        }
        Assert.Contains(aliceLog.All<ChatNotSent>(), n => n.Reason.Contains("the session with the server ended", StringComparison.Ordinal));
        await aliceLog.WaitFor<Connected>(after: mark);
        await Find(alice.System, "/user/client/session-2/connection");
        // The node numbers its lines across sessions.
        alice.Commands.Tell(new NodeCommands.Say("back"));
        Assert.Equal(6, (await aliceLog.WaitFor<ChatSent>(s => s.Text == "back")).Line);
        await serverLog.WaitFor<ChatReceived>(c => c.Text == "back");
    }
}
