using AkkaTcpTransfer.Events;
using AkkaTcpTransfer.Hosting;
using AkkaTcpTransfer.Tests.Support;

namespace AkkaTcpTransfer.Tests.Cluster;

/// <summary>A cluster whose nodes are vouched for by the operator's CA (cluster.ca) instead of one shared key: each node
/// holds its own certificate and key, issued by the CA, on both the cluster port and the node links.</summary>
public sealed class ClusterCaTests : NodesAndFiles
{
    [Fact]
    public async Task Nodes_with_their_own_certificates_from_one_ca_form_a_cluster_and_relay_over_links_and_others_are_refused()
    {
        Nodes.ExpectErrors = true; // the refused node's TLS connections are logged by DotNetty on both ends
        using var ca = new TestCa(Files.Dir("ca"));
        using var otherCa = new TestCa(Files.Dir("other-ca"));
        var now = DateTimeOffset.UtcNow;
        (string, string)[] Node(TestCa issuer, string label)
        {
            var (certificate, key) = issuer.Issue(label, [label], now.AddDays(-1), now.AddYears(1), node: true);
            return [("cluster.certificate", certificate), ("cluster.key", key)];
        }
        (string, string)[] common = [.. ClusterTests.ClusterFast, ("state-dir", Files.Dir("server-state")), ("cluster.ca", ca.RootFile)];
        var (first, firstLog) = await Nodes.StartServer([.. common, .. Node(ca, "node-1")]);
        var seed = $"127.0.0.1:{ClusterTests.ClusterPort(first)}";
        var (second, _) = await Nodes.StartServer([.. common, .. Node(ca, "node-2"), ("cluster.seeds", seed)]);
        await firstLog.WaitFor<ClusterMemberChanged>(_ => firstLog.All<ClusterMemberChanged>().Count(m => m.Status == "up") == 2, timeout: TimeSpan.FromSeconds(30));

        var alice = await Nodes.StartClient("alice", first.Port);
        var bob = await Nodes.StartClient("bob", second.Port, ("downloads", Files.Dir("bob")));
        await alice.Log.WaitFor<PeerJoined>(p => p.Name == "bob", timeout: TimeSpan.FromSeconds(30));
        var source = Files.Create("src/vouched.bin", 2_000_000, seed: 41);
        alice.Node.Commands.Tell(new NodeCommands.SendFile("bob", source));
        var received = await bob.Log.WaitFor<TransferCompleted>(c => c.File == "vouched.bin", timeout: TimeSpan.FromSeconds(60));
        Assert.Equal(Files.Sha256(source), received.Sha256);
        var links = await first.System.ActorSelection("/user/server/links")
            .Ask<AkkaTcpTransfer.Cluster.NodeLinksActor.Stats>(AkkaTcpTransfer.Cluster.NodeLinksActor.GetStats.Instance, TimeSpan.FromSeconds(5));
        Assert.True(links.MessagesSent >= 25, $"sent through the link: {links.MessagesSent}");

        // A node whose certificate another CA issued (and which would itself trust both, so that it is the cluster that
        // refuses it) cannot join: the node it asks refuses its certificate in the TLS handshake and logs why, and the
        // stranger gives up, at once if it saw the refusal in time, or at its join timeout.
        var refusedLogged = LogLines.WaitFor(first.System,
            l => l.Contains("refused a node at", StringComparison.Ordinal) && l.Contains("is not issued by this cluster's CA", StringComparison.Ordinal),
            TimeSpan.FromSeconds(30));
        var both = Path.Combine(Files.Dir("both"), "both.pem");
        File.WriteAllText(both, File.ReadAllText(ca.RootFile) + "\n" + File.ReadAllText(otherCa.RootFile) + "\n");
        var failed = await Assert.ThrowsAsync<NodeStartException>(() => Nodes.StartServer(
            [.. ClusterTests.ClusterFast, ("state-dir", Files.Dir("stranger-state")), ("cluster.ca", both), .. Node(otherCa, "stranger"),
                ("cluster.seeds", seed), ("cluster.join-timeout", "5s")]));
        Assert.Equal(StartFailure.ClusterJoin, failed.Kind);
        await refusedLogged;
        Assert.Equal(2, Akka.Cluster.Cluster.Get(first.System).State.Members.Count);
    }
}
