using AkkaTcpTransfer.Events;
using AkkaTcpTransfer.Hosting;
using AkkaTcpTransfer.Protocol;
using AkkaTcpTransfer.Tests.Support;
using ChatFrame = AkkaTcpTransfer.Protocol.Chat;
using HistoryFrame = AkkaTcpTransfer.Protocol.History;

namespace AkkaTcpTransfer.Tests.Cluster;

/// <summary>Rooms, history and registered names across the nodes of a cluster, which share one database: a room spans
/// nodes, a name registered on one node is refused on another, a message kept for someone offline reaches them on
/// whichever node they come back to, and a room's history outlives the node that hosted it. Run on PostgreSQL
/// (<see cref="ClusterRoomsOnPostgresTests"/>) and on one SQLite file that nodes on one machine share
/// (<see cref="ClusterRoomsOnSqliteTests"/>).</summary>
public abstract class ClusterRoomsContract : NodesAndFiles
{
    private readonly List<(ServerNode Node, EventLog Log)> _servers = [];

    /// <summary>How the nodes reach their database (null: skip, and say why).</summary>
    private protected abstract Task<(string, string)[]?> Store();

    private static readonly (string, string)[] Registering =
        [.. ClusterTests.ClusterFast.Where(s => s.Item1 != "names.max-registered")];

    private async Task StartNodes()
    {
        var store = await Store();
        Skip.If(store is null, $"no PostgreSQL: set {TestPostgres.Variable} (.ci/run starts one)");
        (string, string) identity = ("state-dir", Files.Dir("server-state"));
        var first = await Nodes.StartServer([.. Registering, identity, .. store]);
        _servers.Add(first);
        var seed = $"127.0.0.1:{ClusterTests.ClusterPort(first.Node)}";
        _servers.Add(await Nodes.StartServer([.. Registering, identity, .. store, ("cluster.seeds", seed)]));
        foreach (var (_, log) in _servers)
            await log.WaitFor<ClusterMemberChanged>(_ => log.All<ClusterMemberChanged>().Count(m => m.Status == "up") >= 2);
    }

    private int Port(int node) => _servers[node].Node.Port;

    [SkippableFact]
    public async Task Rooms_history_and_names_span_the_nodes_and_outlive_one()
    {
        await StartNodes();
        await using var alice = await RawClient.JoinAsync(Port(0), "alice");
        await using var bob = await RawClient.JoinAsync(Port(1), "bob");
        await EndToEnd.RoomTests.Join(alice, "#ops");
        await EndToEnd.RoomTests.Join(bob, "#ops");
        await alice.SendAsync(new Say(1, "#ops", "from node 0"));
        await alice.Expect<SayAck>();
        Assert.Equal("from node 0", (await bob.Expect<ChatFrame>(c => c.To == "#ops")).Text);

        // carol is registered on node 0; nobody else may take her name on node 1 while she is away...
        var carol = await RawClient.JoinAsync(Port(0), "carol");
        Assert.True(carol.Welcome!.Registered);
        var carolKey = carol.Welcome.ResumeKey;
        await carol.DisposeAsync();
        await bob.Expect<Protocol.PeerLeft>(p => p.Name == "carol");
        await using (var impostor = await RawClient.ConnectAsync(Port(1)))
        {
            await impostor.SendAsync(new Hello(ProtocolLimits.Version, 1 << 20, "carol", "", []));
            var refused = Assert.IsType<Refused>(await impostor.ReceiveAsync());
            Assert.Contains("registered to someone else", refused.Reason, StringComparison.Ordinal);
        }
        // ...and what bob sends her meanwhile waits for her, on whichever node she comes back to.
        await bob.SendAsync(new Say(2, "carol", "ping me"));
        Assert.True((await bob.Expect<SayAck>()).Held);

        // Node 0 leaves: the room and the accounts move to node 1, with their history. (Node 1 may log its association's
        // end, and presence news sent to node 0 as it went land in dead letters.)
        Nodes.ExpectErrors = true;
        await _servers[0].Node.StopAsync();
        await using var carolBack = await RawClient.JoinAsync(Port(1), "carol", resumeKey: carolKey);
        var kept = await EndToEnd.RoomTests.Until<HistoryEnd>(carolBack, e => e.Target == "carol");
        Assert.Contains(kept, f => f is HistoryFrame { From: "bob", Text: "ping me" });

        await bob.SendAsync(new HistoryRequest("#ops", 0, 50));
        var page = await EndToEnd.RoomTests.Until<HistoryEnd>(bob, e => e.Target == "#ops");
        Assert.Contains(page, f => f is HistoryFrame { From: "alice", Text: "from node 0" });
        await bob.SendAsync(new Say(3, "#ops", "still here"));
        Assert.False((await bob.Expect<SayAck>()).Held);
    }
}

public sealed class ClusterRoomsOnPostgresTests : ClusterRoomsContract
{
    private TestPostgres? _postgres;

    private protected override async Task<(string, string)[]?> Store()
    {
        if (TestPostgres.Given is null) return null;
        _postgres = await TestPostgres.CreateAsync();
        return [("store.kind", "postgres"), ("store.postgres", _postgres.ConnectionString)];
    }

    public override async Task DisposeAsync()
    {
        await base.DisposeAsync();
        if (_postgres is not null) await _postgres.DisposeAsync();
    }
}

public sealed class ClusterRoomsOnSqliteTests : ClusterRoomsContract
{
    private protected override Task<(string, string)[]?> Store() =>
        Task.FromResult<(string, string)[]?>([("store.sqlite-file", Path.Combine(Files.Dir("shared"), "cluster.db"))]);
}
