using Akka.Actor;
using Akka.Configuration;
using Akka.Remote;
using Akka.Remote.Transport;
using AkkaTcpTransfer.Events;
using AkkaTcpTransfer.Hosting;
using AkkaTcpTransfer.Tests.Support;

namespace AkkaTcpTransfer.Tests.Cluster;

/// <summary>A network partition between server nodes, made with Akka.Remote's test throttler (a blackhole between one
/// node and the two others): the split brain resolver keeps the majority, the cut-off node stops itself, and its
/// clients come back on the majority under their names; the majority's clients are untouched.</summary>
public sealed class PartitionTests : NodesAndFiles
{
    private static readonly Config Throttled = ConfigurationFactory.ParseString("akka.remote.dot-netty.tcp.applied-adapters = [trttl]");

    [Fact]
    public async Task The_cut_off_node_stops_and_its_clients_come_back_on_the_majority()
    {
        Nodes.ExpectErrors = true; // the cut links and the stopping node log errors
        (string, string) identity = ("state-dir", Files.Dir("server-state"));
        var (n0, log0) = await Nodes.StartServer(Throttled, [.. ClusterTests.ClusterFast, identity]);
        var seed = $"127.0.0.1:{ClusterTests.ClusterPort(n0)}";
        var (n1, _) = await Nodes.StartServer(Throttled, [.. ClusterTests.ClusterFast, identity, ("cluster.seeds", seed)]);
        var (n2, _) = await Nodes.StartServer(Throttled, [.. ClusterTests.ClusterFast, identity, ("cluster.seeds", seed)]);
        await log0.WaitFor<ClusterMemberChanged>(_ => log0.All<ClusterMemberChanged>().Count(m => m.Status == "up") == 3);

        var alice = await Nodes.StartClient("alice", n0.Port);
        var bob = await Nodes.StartClient("bob", n1.Port);
        var zoe = await Nodes.StartClient("zoe", n2.Port, ("client.servers", $"127.0.0.1:{n0.Port}"));
        await alice.Log.WaitFor<PeerJoined>(p => p.Name == "zoe");
        var zoeMark = zoe.Log.Mark();

        // Cut node 2 off from nodes 0 and 1, both ways; the client connections stay as they are.
        var cut = Akka.Cluster.Cluster.Get(n2.System).SelfAddress;
        foreach (var majority in new[] { n0, n1 })
        {
            var transport = ((RemoteActorRefProvider)((ExtendedActorSystem)majority.System).Provider).Transport;
            Assert.True(await transport.ManagementCommand(new SetThrottle(cut, ThrottleTransportAdapter.Direction.Both, Blackhole.Instance)));
        }

        // The minority side stops itself; the majority removes it.
        await n2.Terminated.WaitAsync(TimeSpan.FromSeconds(40));
        await log0.WaitFor<ClusterMemberChanged>(m => m.Status == "removed", timeout: TimeSpan.FromSeconds(40));
        // zoe is back, on node 0, under her name; alice and bob never left.
        var back = await zoe.Log.WaitFor<Connected>(after: zoeMark, timeout: TimeSpan.FromSeconds(30));
        Assert.Equal("zoe", back.Name);
        Assert.Empty(alice.Log.All<Disconnected>());
        Assert.Empty(bob.Log.All<Disconnected>());
        var mark = alice.Log.Mark();
        alice.Node.Commands.Tell(NodeCommands.Who.Instance);
        var who = await alice.Log.WaitFor<WhoListed>(after: mark);
        Assert.Equal(["server", "alice", "bob", "zoe"], who.Names);
    }

    [Fact]
    public async Task A_name_released_while_its_node_was_cut_off_from_the_directory_is_free_once_they_meet_again()
    {
        Nodes.ExpectErrors = true;
        // A cut short enough that nobody is downed: the resolver waits 30 s here.
        (string, string)[] settings = [.. ClusterTests.ClusterFast, ("state-dir", Files.Dir("server-state")), ("cluster.stable-after", "30s")];
        var (n0, log0) = await Nodes.StartServer(Throttled, settings);
        var seed = $"127.0.0.1:{ClusterTests.ClusterPort(n0)}";
        var (n1, _) = await Nodes.StartServer(Throttled, [.. settings, ("cluster.seeds", seed)]);
        var (n2, _) = await Nodes.StartServer(Throttled, [.. settings, ("cluster.seeds", seed)]);
        await log0.WaitFor<ClusterMemberChanged>(_ => log0.All<ClusterMemberChanged>().Count(m => m.Status == "up") == 3);

        // yuri's name is held for node 1 in the directory, which runs on node 0 (the oldest).
        var yuri = await Nodes.StartClient("yuri", n1.Port, ("client.reconnect.enabled", "off"));
        var node1 = Akka.Cluster.Cluster.Get(n1.System).SelfAddress;
        var transport = ((RemoteActorRefProvider)((ExtendedActorSystem)n0.System).Provider).Transport;
        Assert.True(await transport.ManagementCommand(new SetThrottle(node1, ThrottleTransportAdapter.Direction.Both, Blackhole.Instance)));
        var mark = log0.Mark();
        await log0.WaitFor<ClusterMemberChanged>(m => m.Status == "unreachable", after: mark, timeout: TimeSpan.FromSeconds(20));

        // yuri leaves while node 1 cannot reach the directory: the name's release is lost.
        await yuri.Node.StopAsync();
        Assert.True(await transport.ManagementCommand(new SetThrottle(node1, ThrottleTransportAdapter.Direction.Both, Unthrottled.Instance)));
        await log0.WaitFor<ClusterMemberChanged>(m => m.Status == "reachable", after: mark, timeout: TimeSpan.FromSeconds(20));

        // Once they meet again, node 1 lists what it really holds and the name is free: another client gets it.
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(20);
        while (true)
        {
            try
            {
                var (other, _) = await Nodes.StartClient("yuri", n2.Port, ("client.reconnect.enabled", "off"));
                Assert.Equal("yuri", other.Name);
                break;
            }
            catch (NodeStartException e) when (DateTime.UtcNow < deadline)
            {
                // The reconciliation is on its way (no event says when): each attempt is a new TLS handshake apart.
                Assert.Contains("already taken", e.Message, StringComparison.Ordinal);
            }
        }
    }
}
