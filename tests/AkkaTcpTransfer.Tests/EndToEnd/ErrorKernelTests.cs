using System.Security.Cryptography;
using AkkaTcpTransfer.Events;
using AkkaTcpTransfer.Hosting;
using AkkaTcpTransfer.Tests.Support;

namespace AkkaTcpTransfer.Tests.EndToEnd;

/// <summary>Never a node that is up and serves nothing: each part a node cannot work without is killed here with a real
/// exception (Akka's Kill makes the actor throw), while a client is connected and a transfer is moving, and the node
/// must end (its <see cref="NodeHost.Terminated"/> completing with a reason that names the part), its peers hearing why.</summary>
public sealed class ErrorKernelTests() : NodesAndFiles(new TestNodes { ExpectErrors = true }) // the killed actors' failures are logged as errors
{
    private static async Task<IActorRef> Find(ActorSystem system, string path) =>
        await system.ActorSelection(path).ResolveOne(EventLog.DefaultTimeout);

    /// <summary>A slow transfer from alice to the server, so one is in flight whatever is killed.</summary>
    private async Task<(ServerNode Server, EventLog ServerLog, ClientNode Alice, EventLog AliceLog)> ServerWithATransferInFlight()
    {
        var (server, serverLog) = await Nodes.StartServer(("transfer.window", "64k"), ("transfer.max-window", "64k"));
        var (alice, aliceLog) = await Nodes.StartClient("alice", server.Port, ("client.reconnect.enabled", "off"));
        var file = Files.Create("src/moving.bin", 256L << 20);
        alice.Commands.Tell(new NodeCommands.SendFile(null, file));
        await serverLog.WaitFor<TransferProgress>(p => p.Bytes > 0);
        return (server, serverLog, alice, aliceLog);
    }

    [Theory]
    [InlineData("sessions", "session registry")]
    [InlineData("transfers", "transfer table")]
    [InlineData("partials", "partial files")]
    public async Task A_server_whose_key_part_fails_says_goodbye_naming_it_and_ends_with_that_reason(string child, string what)
    {
        var (server, serverLog, alice, aliceLog) = await ServerWithATransferInFlight();

        (await Find(server.System, $"/user/server/{child}")).Tell(Kill.Instance);

        var exit = await server.Terminated.WaitAsync(EventLog.DefaultTimeout);
        Assert.True(exit.Failed);
        Assert.Contains($"the server's {what} failed (ActorKilledException", exit.Reason, StringComparison.Ordinal);
        // The client heard why (a goodbye, not a lost connection), and its transfer ended instead of hanging.
        var gone = await aliceLog.WaitFor<Disconnected>();
        Assert.Contains($"its {what} failed", gone.Reason, StringComparison.Ordinal);
        await aliceLog.WaitFor<TransferFailed>(f => f.File == "moving.bin");
        // The server said so on its own event stream too (the console prints it before the node ends).
        Assert.Contains(serverLog.All<ErrorOccurred>(), e => e.Message.Contains(what, StringComparison.Ordinal));
        // A client that is not to reconnect ends too, with the reason, rather than living on alone.
        var clientExit = await alice.Terminated.WaitAsync(EventLog.DefaultTimeout);
        Assert.True(clientExit.Failed);
        Assert.Contains("disconnected", clientExit.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_server_whose_listener_fails_ends_and_its_clients_notice()
    {
        var (server, _, _, aliceLog) = await ServerWithATransferInFlight();
        (await Find(server.System, "/user/server/listener")).Tell(Kill.Instance);
        var exit = await server.Terminated.WaitAsync(EventLog.DefaultTimeout);
        Assert.True(exit.Failed);
        Assert.Contains("the server's listener failed", exit.Reason, StringComparison.Ordinal);
        await aliceLog.WaitFor<Disconnected>();
        await aliceLog.WaitFor<TransferFailed>(f => f.File == "moving.bin");
    }

    [Fact]
    public async Task A_server_root_that_fails_is_stopped_not_restarted_and_the_node_ends()
    {
        var (server, _, _, aliceLog) = await ServerWithATransferInFlight();
        (await Find(server.System, "/user/server")).Tell(Kill.Instance);
        var exit = await server.Terminated.WaitAsync(EventLog.DefaultTimeout);
        Assert.True(exit.Failed);
        Assert.Contains("the server stopped unexpectedly", exit.Reason, StringComparison.Ordinal);
        await aliceLog.WaitFor<Disconnected>();
    }

    [Theory]
    [InlineData("transfers", "transfer table")]
    [InlineData("partials", "partial files")]
    public async Task A_client_whose_key_part_fails_ends_with_that_reason_and_the_server_sees_it_leave(string child, string what)
    {
        var (server, serverLog) = await Nodes.StartServer(("transfer.window", "64k"), ("transfer.max-window", "64k"));
        var (alice, _) = await Nodes.StartClient("alice", server.Port);
        server.Commands.Tell(new NodeCommands.SendFile("alice", Files.Create("src/to-alice.bin", 256L << 20)));
        await serverLog.WaitFor<TransferProgress>(p => p.Bytes > 0);

        (await Find(alice.System, $"/user/client/{child}")).Tell(Kill.Instance);

        var exit = await alice.Terminated.WaitAsync(EventLog.DefaultTimeout);
        Assert.True(exit.Failed);
        Assert.Contains($"the client's {what} failed (ActorKilledException", exit.Reason, StringComparison.Ordinal);
        await serverLog.WaitFor<PeerLeft>(p => p.Name == "alice");
        await serverLog.WaitFor<TransferFailed>(f => f.File == "to-alice.bin");
    }

    [Fact]
    public async Task A_client_root_that_fails_ends_the_node_and_an_embedder_awaiting_terminated_hears_it()
    {
        var (server, serverLog) = await Nodes.StartServer();
        var (alice, _) = await Nodes.StartClient("alice", server.Port);
        (await Find(alice.System, "/user/client")).Tell(Kill.Instance);
        var exit = await alice.Terminated.WaitAsync(EventLog.DefaultTimeout);
        Assert.True(exit.Failed);
        Assert.Contains("the client stopped unexpectedly", exit.Reason, StringComparison.Ordinal);
        await serverLog.WaitFor<PeerLeft>(p => p.Name == "alice");
    }

    [Fact]
    public async Task A_client_that_stops_itself_ends_its_node_and_terminated_says_why_while_a_stopped_node_says_stopped()
    {
        var (server, _) = await Nodes.StartServer();
        var (alice, _) = await Nodes.StartClient("alice", server.Port, ("client.reconnect.enabled", "off"));
        var (bob, _) = await Nodes.StartClient("bob", server.Port);
        await server.StopAsync();
        var exit = await alice.Terminated.WaitAsync(EventLog.DefaultTimeout);
        Assert.True(exit.Failed);
        Assert.Contains("server shutting down", exit.Reason, StringComparison.Ordinal);
        Assert.Equal(new NodeExit(false, "stopped"), await server.Terminated.WaitAsync(EventLog.DefaultTimeout));
        // bob reconnects (it may): its node lives on until it is stopped, then says so.
        Assert.False(bob.Terminated.IsCompleted);
        await bob.StopAsync();
        Assert.Equal(new NodeExit(false, "stopped"), await bob.Terminated.WaitAsync(EventLog.DefaultTimeout));
    }
}
