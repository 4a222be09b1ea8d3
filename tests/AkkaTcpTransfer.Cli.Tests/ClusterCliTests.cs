using System.Diagnostics;
using System.Globalization;
using System.Text.Json;

namespace AkkaTcpTransfer.Cli.Tests;

/// <summary>Three server processes form one cluster; clients on each chat as through one server; one node is killed
/// with SIGKILL and its client comes back by itself on another node.</summary>
public sealed class ClusterCliTests
{
    private static string P(int port) => port.ToString(CultureInfo.InvariantCulture);

    /// <summary>Failure detection of a few seconds, as a test can afford (docs/OPERATIONS.md, "Running several
    /// servers").</summary>
    private static readonly string[] Fast =
    [
        "--set", "cluster.heartbeat-interval=500ms", "--set", "cluster.acceptable-heartbeat-pause=2s", "--set", "cluster.stable-after=3s",
    ];

    private static bool Self(JsonElement e) => e.GetProperty("self").GetBoolean() && e.GetProperty("status").GetString() == "up";

    [Fact]
    public async Task Clients_on_three_server_processes_chat_as_one_and_a_killed_node_s_client_returns_on_another()
    {
        // The nodes share one state folder, as nodes on one machine may: one identity (the first makes it, the others find
        // it) and one database (its SQLite file, which nodes of a cluster on one machine may share).
        var state = CliProcess.NewStateDir();
        string[] node = ["server", "--port", "0", "--cluster-port", "0", "--json", "--state-dir", state, .. Fast];
        await using var first = CliProcess.Start(node);
        var port1 = await first.Listening();
        var seed = (await first.WaitFor("cluster-member", Self)).GetProperty("node").GetString()!;
        await using var second = CliProcess.Start([.. node, "--seed", seed]);
        await using var third = CliProcess.Start([.. node, "--seed", seed]);
        var port2 = await second.Listening();
        var port3 = await third.Listening();
        Assert.Equal(first.Fingerprint, second.Fingerprint);
        await second.WaitFor("cluster-member", Self);
        await third.WaitFor("cluster-member", Self);

        await using var alice = CliProcess.Client(first, port1, "--name", "alice", "--json");
        await alice.WaitFor("connected");
        // bob knows two nodes: the second, then the third.
        await using var bob = CliProcess.Client(first, port2, "--name", "bob", "--json",
            "--host", $"127.0.0.1:{P(port2)}", "--host", $"127.0.0.1:{P(port3)}");
        await bob.WaitFor("connected");
        await using var carol = CliProcess.Client(first, port3, "--name", "carol", "--json");
        await carol.WaitFor("connected");
        await alice.WaitFor("peer-joined", e => e.GetProperty("name").GetString() == "carol");

        await alice.SendLine("hello, cluster");
        await bob.WaitFor("chat", e => e.GetProperty("text").GetString() == "hello, cluster");
        await carol.WaitFor("chat", e => e.GetProperty("text").GetString() == "hello, cluster");

        var mark = bob.Mark();
        var killed = Stopwatch.StartNew();
        second.Signal(9);
        await bob.WaitFor("disconnected", after: mark);
        var back = await bob.WaitFor("connected", after: mark);
        var backAfter = killed.Elapsed;
        Assert.Equal("bob", back.GetProperty("name").GetString());
        Assert.True(backAfter < TimeSpan.FromSeconds(10), $"bob was back after {backAfter}");

        // Through the third node now: a line from bob reaches alice (node 1) and carol (node 3), once each.
        await bob.SendLine("back on node 3");
        await alice.WaitFor("chat", e => e.GetProperty("text").GetString() == "back on node 3");
        await carol.WaitFor("chat", e => e.GetProperty("text").GetString() == "back on node 3");
        // The survivors see the killed node go.
        await first.WaitFor("cluster-member", e => e.GetProperty("status").GetString() == "removed");
        await bob.SendLine("/who");
        var who = await bob.WaitFor("who", after: mark);
        Assert.Equal(["server", "alice", "bob", "carol"], who.GetProperty("names").EnumerateArray().Select(n => n.GetString()));
        Assert.Single(alice.StdoutLines, l => l.Contains("back on node 3", StringComparison.Ordinal));
    }
}
