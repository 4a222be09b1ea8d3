using System.Diagnostics;
using System.Globalization;
using Akka.Actor;
using AkkaTcpTransfer.Events;
using AkkaTcpTransfer.Hosting;
using AkkaTcpTransfer.Security;
using AkkaTcpTransfer.Settings;

namespace AkkaTcpTransfer.Benchmarks;

/// <summary>9. Several servers as one: four server processes form a cluster (default cluster settings, TLS to clients
/// and between the nodes with one cluster key, one
/// identity); clients use the first three, the fourth keeps a majority when two go. Chat round trips between clients on different nodes beside the same node; a file relayed to a client on
/// another node beside one on the same node (interleaved, median); a crowd on every node and one broadcast to all of
/// it, with each node's memory; and the time until the clients of a node killed with SIGKILL are online again on
/// another.</summary>
public static class ClusterBenchmark
{
    private const string Section = "9. several servers (a cluster of server processes)";

    private static bool SelfUp(System.Text.Json.JsonElement e) =>
        e.GetProperty("self").GetBoolean() && e.GetProperty("status").GetString() == "up";

    public static async Task Run(Bench bench, int messages, long fileSize, int runs, int crowdPerNode, int returning)
    {
        Console.Error.WriteLine("cluster: starting three nodes");
        // Chat as fast as round trips go, and a crowd from a few hundred loopback addresses: limits raised for the
        // measurement, as in sections 3 and 5.
        // One state folder for the nodes (on one machine): one identity, one database, which they share, and the
        // cluster's key (TLS between the nodes, as a cluster runs by default).
        var state = Directory.CreateTempSubdirectory("cluster-state-").FullName;
        if (!bench.Overrides.Any(o => o is ("tls.enabled", "off"))) ClusterIdentity.Create(state).Dispose();
        string[] settings = ["--cluster-port", "0", "--set", "limits.chat-per-second=1000000", "--set", "limits.chat-burst=1000000",
            "--set", "connection.idle-timeout=300s", "--set", "server.handshake-timeout=60s", "--set", "chat.presence-limit=100",
            "--state-dir", state];
        var nodes = new List<(JsonEventProcess Process, int Port)>();
        try
        {
            nodes.Add(await bench.StartServer(bench.Dir("cluster-1"), settings));
            var seed = (await nodes[0].Process.WaitFor("cluster-member", SelfUp)).GetProperty("node").GetString()!;
            // A fourth node with no clients keeps a majority after the two nodes this section stops and kills.
            for (var i = 2; i <= 4; i++)
            {
                nodes.Add(await bench.StartServer(bench.Dir($"cluster-{i}"), [.. settings, "--seed", seed]));
                await nodes[^1].Process.WaitFor("cluster-member", SelfUp);
            }
            await Latency(bench, nodes, messages);
            await Relay(bench, nodes, fileSize, runs);
            await Crowd(bench, nodes.Take(3).ToList(), crowdPerNode);
            await StoppedNode(bench, nodes, bench.Smoke ? 2 : 10);
            await KilledNode(bench, nodes, returning);
        }
        finally
        {
            foreach (var (process, _) in nodes) await process.DisposeAsync();
        }
    }

    private static async Task<ClientNode> InProcessClient(Bench bench, int port, string name) =>
        await ClientNode.StartAsync(NodeConfig.Build(NodeRole.Client,
            [("port", port.ToString(CultureInfo.InvariantCulture)), ("name", name), ("downloads", bench.Dir($"dl-{name}")),
            ("akka.loglevel", "ERROR"), ("akka.stdout-loglevel", "ERROR"), .. bench.ClientSettings(port), .. bench.Overrides]));

    private static async Task Latency(Bench bench, List<(JsonEventProcess Process, int Port)> nodes, int messages)
    {
        Console.Error.WriteLine("cluster: chat round trips");
        var a = await InProcessClient(bench, nodes[0].Port, "lat-a");
        var near = await InProcessClient(bench, nodes[0].Port, "lat-near");
        // Presence between nodes is passed on, not instant: measure once a has heard that far is online (its node knows).
        var farKnown = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        using var onJoined = a.System.Subscribe<PeerJoined>(p =>
        {
            if (p.Name == "lat-far") farKnown.TrySetResult();
        });
        var far = await InProcessClient(bench, nodes[1].Port, "lat-far");
        try
        {
            await farKnown.Task.WaitAsync(TimeSpan.FromSeconds(30));
            await ChatBenchmarks.Measure(a, far, Math.Min(200, messages)); // warm-up
            var same = new List<double>();
            var across = new List<double>();
            // Interleaved in blocks, so that both see the same machine.
            for (var block = 0; block < 5; block++)
            {
                same.AddRange(await ChatBenchmarks.Measure(a, near, messages / 5));
                across.AddRange(await ChatBenchmarks.Measure(a, far, messages / 5));
            }
            bench.Report.Add(Section, "chat, same node: p50", Stats.Percentile(same, 50), "ms");
            bench.Report.Add(Section, "chat, same node: p99", Stats.Percentile(same, 99), "ms", $"{same.Count} messages");
            bench.Report.Add(Section, "chat, across nodes: p50", Stats.Percentile(across, 50), "ms");
            bench.Report.Add(Section, "chat, across nodes: p99", Stats.Percentile(across, 99), "ms", $"target <= 2 ms idle; {across.Count} messages");
        }
        finally
        {
            await Task.WhenAll(a.StopAsync(), near.StopAsync(), far.StopAsync());
        }
    }

    private static async Task Relay(Bench bench, List<(JsonEventProcess Process, int Port)> nodes, long fileSize, int runs)
    {
        Console.Error.WriteLine("cluster: relayed files");
        var source = bench.SourceFile(fileSize);
        var nearDownloads = bench.Dir("relay-near");
        var farDownloads = bench.Dir("relay-far");
        await using var sender = await bench.StartClient(nodes[0].Port, "sender", bench.Dir("relay-sender"));
        await using var near = await bench.StartClient(nodes[0].Port, "near", nearDownloads);
        await using var far = await bench.StartClient(nodes[1].Port, "far", farDownloads);
        // The sender's node knows far is online once the sender has heard so.
        await sender.WaitFor("peer-joined", e => e.GetProperty("name").GetString() == "far");
        var rates = new Dictionary<string, List<double>> { ["near"] = [], ["far"] = [] };
        // CPU seconds of each server node per relay kind: where a relayed GiB costs what.
        var cpu = new Dictionary<string, double[]> { ["near"] = new double[2], ["far"] = new double[2] };
        double Cpu(int node) => nodes[node].Process.CpuTime()?.TotalSeconds ?? double.NaN;
        for (var run = 1; run <= runs; run++)
        {
            foreach (var (name, receiver, folder) in new[] { ("near", near, nearDownloads), ("far", far, farDownloads) })
            {
                Console.Error.WriteLine($"cluster: relay to {name}, run {run}/{runs}");
                var mark = receiver.Mark();
                var (before0, before1) = (Cpu(0), Cpu(1));
                await sender.SendLine($"/send {name} {source}");
                var done = await receiver.WaitFor("transfer-completed", after: mark);
                cpu[name][0] += Cpu(0) - before0;
                cpu[name][1] += Cpu(1) - before1;
                rates[name].Add(fileSize / 1048576.0 / done.GetProperty("seconds").GetDouble());
                File.Delete(done.GetProperty("path").GetString()!);
                Bench.Sync();
            }
        }
        var sameNode = Stats.Median(rates["near"]);
        var acrossNodes = Stats.Median(rates["far"]);
        var size = $"{fileSize / 1048576} MiB";
        bench.Report.Add(Section, $"relay to a client on the same node ({size})", sameNode, "MiB/s", $"median of {runs}");
        bench.Report.Add(Section, $"relay to a client on another node ({size})", acrossNodes, "MiB/s", $"median of {runs}");
        bench.Report.Add(Section, "ratio: across nodes / same node", acrossNodes / sameNode, "x", "target >= 0.8");
        var gib = fileSize * (double)runs / (1L << 30);
        bench.Report.Add(Section, "server CPU per GiB relayed, same node", cpu["near"][0] / gib, "core-s/GiB", "decrypt from the sender, encrypt to the receiver");
        bench.Report.Add(Section, "server CPU per GiB relayed, across nodes: sender's node", cpu["far"][0] / gib, "core-s/GiB", "decrypt, then the node link out");
        bench.Report.Add(Section, "server CPU per GiB relayed, across nodes: receiver's node", cpu["far"][1] / gib, "core-s/GiB", "the node link in, then encrypt");
    }

    private static async Task Crowd(Bench bench, List<(JsonEventProcess Process, int Port)> nodes, int perNode)
    {
        Console.Error.WriteLine($"cluster: {perNode} clients on each node");
        var clients = new List<WireClient>();
        try
        {
            using var gate = new SemaphoreSlim(256);
            var clock = Stopwatch.StartNew();
            await Task.WhenAll(Enumerable.Range(0, perNode * nodes.Count).Select(async i =>
            {
                await gate.WaitAsync();
                try
                {
                    var client = await WireClient.JoinAsync(nodes[i % nodes.Count].Port, $"crowd{i}", WireClient.Loopback(i));
                    lock (clients) clients.Add(client);
                }
                finally
                {
                    gate.Release();
                }
            }));
            var connect = clock.Elapsed.TotalSeconds;
            var listening = clients.Select(c => c.WaitForChatAsync("hello, whole cluster")).ToList();
            var broadcast = Stopwatch.StartNew();
            await nodes[0].Process.SendLine("hello, whole cluster");
            await Task.WhenAll(listening).WaitAsync(TimeSpan.FromMinutes(2));
            var reach = broadcast.Elapsed.TotalMilliseconds;
            var label = $"{nodes.Count} nodes x {perNode} clients";
            bench.Report.Add(Section, $"{label}: time to connect and handshake", connect, "s");
            bench.Report.Add(Section, $"{label}: one broadcast reaches all", reach, "ms", "target <= 1000");
            for (var n = 0; n < nodes.Count; n++)
                bench.Report.Add(Section, $"{label}: node {n + 1} memory", (nodes[n].Process.ResidentBytes() ?? 0) / 1048576.0, "MiB");
        }
        finally
        {
            foreach (var c in clients) c.Dispose();
        }
    }

    /// <summary>Node 2 stops reading altogether (SIGSTOP) while clients of node 1 broadcast 16 KB lines at their chat
    /// limit: what node 1 holds for it meanwhile, and how soon the cluster removes it (then it is let go on again, finds
    /// itself removed and stops).</summary>
    private static async Task StoppedNode(Bench bench, List<(JsonEventProcess Process, int Port)> nodes, int talkers)
    {
        Console.Error.WriteLine($"cluster: a node stops reading while {talkers} clients broadcast");
        var (stopped, _) = nodes[1];
        var clients = new List<ClientNode>();
        for (var i = 0; i < talkers; i++) clients.Add(await InProcessClient(bench, nodes[0].Port, $"talker{i}"));
        // Someone on the stopped node to broadcast to.
        clients.Add(await InProcessClient(bench, nodes[1].Port, "listener"));
        try
        {
            var line = new string('z', 16_000);
            using var talking = new CancellationTokenSource();
            var load = Task.WhenAll(clients.Take(talkers).Select(async c =>
            {
                while (!talking.IsCancellationRequested)
                {
                    c.Commands.Tell(new NodeCommands.Say(line));
                    await Task.Delay(TimeSpan.FromMilliseconds(60)); // under the default 20 lines/s
                }
            }));
            await Task.Delay(TimeSpan.FromSeconds(2));
            var before = nodes[0].Process.ResidentBytes() ?? 0;
            var mark = nodes[0].Process.Mark();
            var clock = Stopwatch.StartNew();
            stopped.Signal(19); // SIGSTOP
            long peak = before;
            var removed = nodes[0].Process.WaitFor("cluster-member", e => e.GetProperty("status").GetString() == "removed", after: mark);
            while (!removed.IsCompleted)
            {
                peak = Math.Max(peak, nodes[0].Process.ResidentBytes() ?? 0);
                await Task.WhenAny(removed, Task.Delay(200));
            }
            await removed;
            var removedAfter = clock.Elapsed.TotalSeconds;
            await talking.CancelAsync();
            await load;
            stopped.Signal(18); // SIGCONT: it learns it was removed and stops by itself
            bench.Report.Add(Section, "a node stopped (SIGSTOP) while others broadcast: removed from the cluster after", removedAfter, "s",
                "failure detector + split brain resolver, default settings");
            bench.Report.Add(Section, "  meanwhile, the broadcasting clients' node grew by (peak)", (peak - before) / 1048576.0, "MiB",
                $"{talkers} clients x 16 KB lines at ~16/s each; from {Report.Format(before / 1048576.0)} MiB");
        }
        finally
        {
            await Task.WhenAll(clients.Select(c => c.StopAsync()));
        }
    }

    private static async Task KilledNode(Bench bench, List<(JsonEventProcess Process, int Port)> nodes, int count)
    {
        Console.Error.WriteLine($"cluster: {count} clients of a node that is killed");
        var (victim, victimPort) = nodes[2];
        var clients = new List<JsonEventProcess>();
        try
        {
            for (var i = 0; i < count; i++)
                clients.Add(await bench.StartClient(victimPort, $"back{i}", bench.Dir($"back{i}"),
                    "--host", $"127.0.0.1:{victimPort}", "--host", $"127.0.0.1:{nodes[0].Port}"));
            var marks = clients.Select(c => c.Mark()).ToList();
            var clock = Stopwatch.StartNew();
            victim.Signal(9);
            var back = await Task.WhenAll(clients.Select(async (c, i) =>
            {
                await c.WaitFor("connected", after: marks[i]);
                return clock.Elapsed.TotalSeconds;
            }));
            bench.Report.Add(Section, $"node killed (SIGKILL): its {count} clients back online on another node, the last after",
                back.Max(), "s", $"target <= 10; median {Report.Format(Stats.Median([.. back]))} s; names kept");
        }
        finally
        {
            foreach (var c in clients) await c.DisposeAsync();
        }
    }
}
