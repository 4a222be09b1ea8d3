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

    /// <param name="relayOnly">Only the chat round trips and the relayed files (the "relay" scenario): no crowd, no
    /// stopped or killed node.</param>
    public static async Task Run(Bench bench, int messages, long fileSize, int runs, int crowdPerNode, int returning, bool relayOnly = false)
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
        var clear = new List<(JsonEventProcess Process, int Port)>();
        var tls = !bench.Overrides.Any(o => o is ("tls.enabled", "off"));
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
            if (tls)
            {
                // Beside it, two nodes of a cluster in the clear (clients keep TLS): what TLS between nodes costs, in
                // the same run.
                var clearState = Directory.CreateTempSubdirectory("cluster-clear-").FullName;
                string[] clearSettings = [.. settings[..^2], "--state-dir", clearState, "--set", "cluster.tls=off"];
                clear.Add(await bench.StartServer(bench.Dir("clear-1"), clearSettings));
                var clearSeed = (await clear[0].Process.WaitFor("cluster-member", SelfUp)).GetProperty("node").GetString()!;
                clear.Add(await bench.StartServer(bench.Dir("clear-2"), [.. clearSettings, "--seed", clearSeed]));
                await clear[1].Process.WaitFor("cluster-member", SelfUp);
            }
            await Latency(bench, nodes, messages);
            await Relay(bench, nodes, clear, fileSize, runs);
            if (relayOnly) return;
            await Crowd(bench, nodes.Take(3).ToList(), crowdPerNode);
            await StoppedNode(bench, nodes, bench.Smoke ? 2 : 10);
            await KilledNode(bench, nodes, returning);
        }
        finally
        {
            foreach (var (process, _) in nodes.Concat(clear)) await process.DisposeAsync();
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

    /// <summary>A file relayed to a client on the sender's node and to one on another node, interleaved, with each
    /// server's CPU; when <paramref name="clear"/> holds two nodes (a cluster in the clear), the same across them too, so
    /// that the cost of TLS between nodes comes from the same run.</summary>
    private static async Task Relay(Bench bench, List<(JsonEventProcess Process, int Port)> nodes, List<(JsonEventProcess Process, int Port)> clear,
        long fileSize, int runs)
    {
        Console.Error.WriteLine("cluster: relayed files");
        var source = bench.SourceFile(fileSize);
        var kinds = new List<(string Name, JsonEventProcess Sender, JsonEventProcess Receiver, string Folder, JsonEventProcess[] Servers)>();
        var clients = new List<JsonEventProcess>();
        try
        {
            async Task<JsonEventProcess> Client(int port, string name, string folder)
            {
                var client = await bench.StartClient(port, name, folder);
                clients.Add(client);
                return client;
            }
            var sender = await Client(nodes[0].Port, "sender", bench.Dir("relay-sender"));
            var nearFolder = bench.Dir("relay-near");
            var farFolder = bench.Dir("relay-far");
            var near = await Client(nodes[0].Port, "near", nearFolder);
            var far = await Client(nodes[1].Port, "far", farFolder);
            // The sender's node knows far is online once the sender has heard so.
            await sender.WaitFor("peer-joined", e => e.GetProperty("name").GetString() == "far");
            kinds.Add(("near", sender, near, nearFolder, [nodes[0].Process]));
            kinds.Add(("far", sender, far, farFolder, [nodes[0].Process, nodes[1].Process]));
            if (clear.Count == 2)
            {
                var clearSender = await Client(clear[0].Port, "sender", bench.Dir("clear-sender"));
                var clearFolder = bench.Dir("relay-clear");
                var clearFar = await Client(clear[1].Port, "far", clearFolder);
                await clearSender.WaitFor("peer-joined", e => e.GetProperty("name").GetString() == "far");
                kinds.Add(("clear", clearSender, clearFar, clearFolder, [clear[0].Process, clear[1].Process]));
            }
            var rates = kinds.ToDictionary(k => k.Name, _ => new List<double>());
            // CPU seconds of each server node per relay kind: where a relayed GiB costs what.
            var cpu = kinds.ToDictionary(k => k.Name, k => new double[k.Servers.Length]);
            // And of every process a relay runs through (the two clients too): on a machine whose cores they all share,
            // a relay's rate is bounded by their sum.
            var total = kinds.ToDictionary(k => k.Name, _ => 0.0);
            for (var run = 1; run <= runs; run++)
            {
                foreach (var (name, from, receiver, folder, servers) in kinds)
                {
                    Console.Error.WriteLine($"cluster: relay to {name}, run {run}/{runs}");
                    var mark = receiver.Mark();
                    var before = servers.Select(s => s.CpuTime()?.TotalSeconds ?? double.NaN).ToArray();
                    var all = servers.Append(from).Append(receiver).ToArray();
                    var beforeAll = all.Sum(p => p.CpuTime()?.TotalSeconds ?? double.NaN);
                    await from.SendLine($"/send {(name == "near" ? "near" : "far")} {source}");
                    var done = await receiver.WaitFor("transfer-completed", after: mark);
                    for (var i = 0; i < servers.Length; i++) cpu[name][i] += (servers[i].CpuTime()?.TotalSeconds ?? double.NaN) - before[i];
                    total[name] += all.Sum(p => p.CpuTime()?.TotalSeconds ?? double.NaN) - beforeAll;
                    rates[name].Add(fileSize / 1048576.0 / done.GetProperty("seconds").GetDouble());
                    File.Delete(done.GetProperty("path").GetString()!);
                    Bench.Sync();
                }
            }
            var sameNode = Stats.Median(rates["near"]);
            var acrossNodes = Stats.Median(rates["far"]);
            var size = $"{fileSize / 1048576} MiB";
            var gib = fileSize * (double)runs / (1L << 30);
            bench.Report.Add(Section, $"relay to a client on the same node ({size})", sameNode, "MiB/s", $"median of {runs}");
            bench.Report.Add(Section, $"relay to a client on another node ({size})", acrossNodes, "MiB/s", $"median of {runs}");
            bench.Report.Add(Section, "ratio: across nodes / same node", acrossNodes / sameNode, "x", "target >= 0.8");
            bench.Report.Add(Section, "server CPU per GiB relayed, same node", cpu["near"][0] / gib, "core-s/GiB", "decrypt from the sender, encrypt to the receiver");
            bench.Report.Add(Section, "server CPU per GiB relayed, across nodes: sender's node", cpu["far"][0] / gib, "core-s/GiB", "decrypt, then the node link out");
            bench.Report.Add(Section, "server CPU per GiB relayed, across nodes: receiver's node", cpu["far"][1] / gib, "core-s/GiB", "the node link in, then encrypt");
            bench.Report.Add(Section, "CPU per GiB relayed, every process (clients and servers): same node", total["near"] / gib, "core-s/GiB");
            bench.Report.Add(Section, "CPU per GiB relayed, every process: across nodes", total["far"] / gib, "core-s/GiB");
            bench.Report.Add(Section, "ratio the CPU allows: same node's CPU / across nodes'", total["near"] / total["far"], "x",
                $"the bound on a ratio when the processes share {Environment.ProcessorCount} cores");
            if (!rates.TryGetValue("clear", out var clearRates)) return;
            var acrossClear = Stats.Median(clearRates);
            bench.Report.Add(Section, $"relay to a client on another node, cluster in the clear ({size})", acrossClear, "MiB/s",
                $"median of {runs}; cluster.tls=off, clients on TLS");
            bench.Report.Add(Section, "ratio: across nodes in the clear / same node", acrossClear / sameNode, "x");
            bench.Report.Add(Section, "ratio: across nodes with TLS / in the clear", acrossNodes / acrossClear, "x");
            bench.Report.Add(Section, "CPU per GiB relayed, every process: across nodes in the clear", total["clear"] / gib, "core-s/GiB");
            bench.Report.Add(Section, "server CPU per GiB relayed, in the clear: sender's node", cpu["clear"][0] / gib, "core-s/GiB");
            bench.Report.Add(Section, "server CPU per GiB relayed, in the clear: receiver's node", cpu["clear"][1] / gib, "core-s/GiB");
            bench.Report.Add(Section, "what TLS between nodes costs per GiB: sender's node", (cpu["far"][0] - cpu["clear"][0]) / gib, "core-s/GiB",
                "TLS cluster minus clear cluster, same run");
            bench.Report.Add(Section, "what TLS between nodes costs per GiB: receiver's node", (cpu["far"][1] - cpu["clear"][1]) / gib, "core-s/GiB",
                "TLS cluster minus clear cluster, same run");
        }
        finally
        {
            foreach (var client in clients) await client.DisposeAsync();
        }
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
