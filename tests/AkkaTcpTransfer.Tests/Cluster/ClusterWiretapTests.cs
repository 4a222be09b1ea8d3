using System.Net;
using System.Text;
using AkkaTcpTransfer.Events;
using AkkaTcpTransfer.Hosting;
using AkkaTcpTransfer.Tests.Support;

namespace AkkaTcpTransfer.Tests.Cluster;

/// <summary>What someone on the nodes' network sees. Node B listens on 127.0.0.1 and tells the other node to reach it at
/// 127.0.0.2 (cluster.public-host), where a recording proxy sits in front of its cluster port and of its link port, so
/// that everything node A sends B crosses the recorder: the join, the cluster's messages, the node link. A client on A
/// then sends a client on B a direct message and a file.</summary>
public sealed class ClusterWiretapTests : NodesAndFiles
{
    private const string Token = "wiretap-token-Qx7v";
    private const string Line = "a secret line that crosses the nodes";
    private static readonly IPAddress Public = IPAddress.Parse("127.0.0.2");
    private readonly List<RecordingProxy> _recorders = [];

    public override async Task DisposeAsync()
    {
        await base.DisposeAsync();
        foreach (var recorder in _recorders) await recorder.DisposeAsync();
    }

    [Fact]
    public async Task With_the_cluster_key_a_recorder_on_the_cluster_port_and_on_a_link_sees_no_chat_text_file_bytes_or_token()
    {
        var (cluster, link, file) = await Wiretap(tls: true);
        foreach (var (port, recorder) in new[] { ("cluster port", cluster), ("link", link) })
        {
            Assert.False(recorder.Saw(Encoding.UTF8.GetBytes(Line)), $"the chat text crossed the {port} in clear");
            Assert.False(recorder.Saw(Encoding.UTF8.GetBytes(Token)), $"the token crossed the {port} in clear");
            Assert.False(recorder.Saw(AkkaTcpTransfer.Cluster.ClusterKeys.TokenKey(Token)), $"the token's key crossed the {port} in clear");
            foreach (var at in new[] { 0, file.Length / 2, file.Length - 64 })
                Assert.False(recorder.Saw(file.AsSpan(at, 48)), $"file bytes at {at} crossed the {port} in clear");
        }
    }

    /// <summary>The recorder's control: the same exchange with the cluster in the clear (cluster.tls off), where the
    /// recorder must find every one of them. Without it, a recorder that saw nothing would pass the test above.</summary>
    [Fact]
    public async Task In_the_clear_the_same_recorder_sees_them_all()
    {
        var (cluster, link, file) = await Wiretap(tls: false);
        Assert.True(cluster.Saw(Encoding.UTF8.GetBytes(Line)) || link.Saw(Encoding.UTF8.GetBytes(Line)), "the chat text was not seen");
        Assert.True(link.Saw(AkkaTcpTransfer.Cluster.ClusterKeys.TokenKey(Token)), "the link's token key was not seen");
        foreach (var at in new[] { 0, file.Length / 2, file.Length - 64 })
            Assert.True(link.Saw(file.AsSpan(at, 48)), $"file bytes at {at} were not seen on the link");
    }

    private async Task<(RecordingProxy Cluster, RecordingProxy Link, byte[] File)> Wiretap(bool tls)
    {
        (string, string)[] common =
        [
            .. ClusterTests.ClusterFast, ("token", Token), ("state-dir", Files.Dir("server-state")),
            ("store.sqlite-file", Path.Combine(Files.Dir("db"), "cluster.db")), .. tls ? [] : new[] { ("cluster.tls", "off") },
        ];
        var (b, bLog) = await Nodes.StartServer([.. common, ("cluster.host", "127.0.0.1"), ("cluster.public-host", "127.0.0.2")]);
        var clusterPort = ClusterTests.ClusterPort(b);
        Assert.Equal("127.0.0.2", Akka.Cluster.Cluster.Get(b.System).SelfAddress.Host);
        var linkPort = (await b.System.ActorSelection("/user/server/links")
            .Ask<AkkaTcpTransfer.Cluster.NodeLinksActor.Stats>(AkkaTcpTransfer.Cluster.NodeLinksActor.GetStats.Instance, TimeSpan.FromSeconds(5))).Port;
        var cluster = new RecordingProxy(new IPEndPoint(Public, clusterPort), new IPEndPoint(IPAddress.Loopback, clusterPort));
        var link = new RecordingProxy(new IPEndPoint(Public, linkPort), new IPEndPoint(IPAddress.Loopback, linkPort));
        _recorders.Add(cluster);
        _recorders.Add(link);

        var (a, _) = await Nodes.StartServer([.. common, ("cluster.seeds", $"127.0.0.2:{clusterPort}")]);
        await bLog.WaitFor<ClusterMemberChanged>(_ => bLog.All<ClusterMemberChanged>().Count(m => m.Status == "up") == 2, timeout: TimeSpan.FromSeconds(30));
        var alice = await Nodes.StartClient("alice", a.Port, ("token", Token));
        var bob = await Nodes.StartClient("bob", b.Port, ("token", Token), ("downloads", Files.Dir("bob")));
        await alice.Log.WaitFor<PeerJoined>(p => p.Name == "bob", timeout: TimeSpan.FromSeconds(30));

        alice.Node.Commands.Tell(new NodeCommands.SayTo("bob", Line));
        await bob.Log.WaitFor<ChatReceived>(c => c.Text == Line);
        var source = Files.Create("src/tapped.bin", 1_000_000, seed: 77);
        alice.Node.Commands.Tell(new NodeCommands.SendFile("bob", source));
        var received = await bob.Log.WaitFor<TransferCompleted>(c => c.File == "tapped.bin", timeout: TimeSpan.FromSeconds(60));
        Assert.Equal(Files.Sha256(source), received.Sha256);

        // The recorders were in the path: node A reached B through them, and the file went over the link.
        Assert.True(cluster.Connections > 0 && cluster.Recorded().Length > 1000, $"cluster recorder: {cluster.Connections} connections, {cluster.Recorded().Length} bytes");
        Assert.True(link.Recorded().Length >= 1_000_000, $"the link recorder saw {link.Recorded().Length} bytes, less than the file");
        return (cluster, link, File.ReadAllBytes(source));
    }
}
