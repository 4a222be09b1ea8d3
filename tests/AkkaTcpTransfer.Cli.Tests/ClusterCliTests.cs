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

    /// <summary>Runs <c>cluster-key --out <paramref name="folder"/></c>: the key is the owner's alone, and a second run
    /// does not overwrite it.</summary>
    private static async Task<string> MakeClusterKey(string folder)
    {
        await using (var make = CliProcess.Start("cluster-key", "--out", folder))
        {
            Assert.Equal(0, await make.WaitForExit());
            var said = string.Join('\n', make.StdoutLines);
            Assert.Contains("fingerprint", said, StringComparison.Ordinal);
        }
        var key = Path.Combine(folder, "cluster-key.pem");
        Assert.Contains("PRIVATE KEY", await File.ReadAllTextAsync(key), StringComparison.Ordinal);
        if (!OperatingSystem.IsWindows())
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(key));
        var before = await File.ReadAllBytesAsync(key);
        await using (var again = CliProcess.Start("cluster-key", "--out", folder))
        {
            Assert.Equal(2, await again.WaitForExit());
            Assert.Contains("already", again.Stderr, StringComparison.Ordinal);
        }
        Assert.Equal(before, await File.ReadAllBytesAsync(key));
        return folder;
    }

    [Fact]
    public async Task A_cluster_node_without_the_cluster_key_does_not_start_and_says_how_to_make_one()
    {
        await using var node = CliProcess.Start("server", "--port", "0", "--cluster-port", "0", "--json", "--state-dir", CliProcess.NewStateDir());
        Assert.Equal(2, await node.WaitForExit());
        Assert.Contains("akka-tcp-transfer cluster-key --out DIR", node.Stderr, StringComparison.Ordinal);
        Assert.Contains("--insecure", node.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_node_with_another_cluster_key_exits_3_naming_the_reason_and_the_cluster_logs_it_once()
    {
        var state = await MakeClusterKey(CliProcess.NewStateDir());
        await using var first = CliProcess.Start(["server", "--port", "0", "--cluster-port", "0", "--json", "--state-dir", state, .. Fast]);
        var seed = (await first.WaitFor("cluster-member", Self)).GetProperty("node").GetString()!;
        var other = await MakeClusterKey(CliProcess.NewStateDir());
        for (var attempt = 0; attempt < 2; attempt++)
        {
            await using var stranger = CliProcess.Start(["server", "--port", "0", "--cluster-port", "0", "--json", "--state-dir", other, "--seed", seed, .. Fast]);
            Assert.Equal(3, await stranger.WaitForExit());
            Assert.Contains($"cannot join the cluster at {seed}: it presents another cluster key", stranger.Stderr, StringComparison.Ordinal);
        }
        // The cluster logged the refusal of that address once, not once per attempt.
        var refusals = first.Stderr.Split('\n').Count(l => l.Contains("refused a node at", StringComparison.Ordinal));
        Assert.Equal(1, refusals);
    }

    [Fact]
    public async Task Clients_on_three_server_processes_chat_as_one_and_a_killed_node_s_client_returns_on_another()
    {
        // The nodes share one state folder, as nodes on one machine may: one identity (the first makes it, the others find
        // it) and one database (its SQLite file, which nodes of a cluster on one machine may share).
        var state = CliProcess.NewStateDir();
        // The cluster's key, in the shared state folder: every node finds it there.
        await MakeClusterKey(state);
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
