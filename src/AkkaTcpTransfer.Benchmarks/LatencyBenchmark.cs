using System.Diagnostics;
using Akka.Actor;
using System.Globalization;
using AkkaTcpTransfer.Events;
using AkkaTcpTransfer.Hosting;
using AkkaTcpTransfer.Settings;

namespace AkkaTcpTransfer.Benchmarks;

/// <summary>3. Chat latency client -> server -> client with N clients connected (client actor systems in this process,
/// the server a separate process): one message at a time, first idle, then while the sending client pushes a file
/// to the server over the very same connection. 4. Fan-out: one client broadcasts as fast as it can; every other
/// client counts.</summary>
public static class ChatBenchmarks
{
    private const string Latency = "3. chat latency (client -> server -> client)";
    private const string Fanout = "4. chat fan-out (broadcast to every client)";

    public static async Task<List<ClientNode>> Connect(Bench bench, int port, int count, string downloads)
    {
        var clients = new List<ClientNode>();
        for (var i = 0; i < count; i++)
        {
            clients.Add(await ClientNode.StartAsync(NodeConfig.Build(NodeRole.Client,
                [("port", port.ToString(CultureInfo.InvariantCulture)), ("name", $"c{i}"), ("downloads", downloads),
                ("akka.loglevel", "ERROR"), ("akka.stdout-loglevel", "ERROR"), .. bench.ClientSettings(port), .. bench.Overrides])));
        }
        return clients;
    }

    public static async Task RunLatency(Bench bench, int clients, int messages, long fileSize)
    {
        // Round trips as fast as they go (a thousand messages a second from one client): the chat rate limit is raised
        // for this measurement of the path, and only for it.
        var (server, port) = await bench.StartServer(bench.Dir("server-downloads"), "--set", "transfer.sync-on-complete=off",
            "--set", "chat.presence-limit=100000", "--set", "limits.chat-per-second=1000000", "--set", "limits.chat-burst=1000000");
        await using (server)
        {
            var nodes = await Connect(bench, port, clients, bench.Dir("client-downloads"));
            try
            {
                var (a, b) = (nodes[0], nodes[1]);
                await Measure(a, b, Math.Min(200, messages)); // warm-up
                var idle = await Measure(a, b, messages);
                Add(bench, $"idle, {clients} clients connected", idle, "target p99 <= 1 ms");

                // The same connection now carries a file: a's uploads to the server run back to back until done.
                var source = bench.SourceFile(fileSize);
                var stop = new CancellationTokenSource();
                long moved = 0, current = 0; // bytes acknowledged by the server, over all uploads
                var transferring = new TaskCompletionSource();
                using var started = a.System.Subscribe<TransferStarted>(_ =>
                {
                    Interlocked.Exchange(ref current, 0);
                    transferring.TrySetResult();
                });
                using var progress = a.System.Subscribe<TransferProgress>(p =>
                {
                    Interlocked.Add(ref moved, p.Bytes - Interlocked.Exchange(ref current, p.Bytes));
                });
                using var completed = a.System.Subscribe<TransferCompleted>(_ =>
                {
                    if (!stop.IsCancellationRequested) a.Commands.Tell(new NodeCommands.SendFile(null, source));
                });
                using var removed = server.Subscribe("transfer-completed", e => File.Delete(e.GetProperty("path").GetString()!));
                a.Commands.Tell(new NodeCommands.SendFile(null, source));
                await transferring.Task.WaitAsync(TimeSpan.FromSeconds(30));
                var before = Interlocked.Read(ref moved);
                var clock = Stopwatch.StartNew();
                var loaded = await Measure(a, b, messages);
                var rate = (Interlocked.Read(ref moved) - before) / 1048576.0 / clock.Elapsed.TotalSeconds;
                await stop.CancelAsync();
                Add(bench, "during a saturating file transfer on the sender's connection", loaded, "target p99 <= 5 ms");
                bench.Report.Add(Latency, "upload rate on that connection while measuring", rate, "MiB/s", "from its progress events (throttled: approximate)");
            }
            finally
            {
                await Task.WhenAll(nodes.Select(n => n.StopAsync()));
            }
        }
    }

    private static void Add(Bench bench, string what, List<double> ms, string target)
    {
        bench.Report.Add(Latency, $"p50, {what}", Stats.Percentile(ms, 50), "ms");
        bench.Report.Add(Latency, $"p99, {what}", Stats.Percentile(ms, 99), "ms", target);
        bench.Report.Add(Latency, $"max, {what}", ms.Max(), "ms", $"{ms.Count} messages");
    }

    /// <summary>Sends <paramref name="count"/> direct messages from a to b (or lines to the room <paramref name="to"/>,
    /// which both are in), one at a time, and returns each one's latency in milliseconds (same process, same clock).</summary>
    internal static async Task<List<double>> Measure(ClientNode a, ClientNode b, int count, string? to = null)
    {
        var latencies = new List<double>(count);
        TaskCompletionSource<long>? pending = null;
        string? expected = null;
        using var subscription = b.System.Subscribe<ChatReceived>(c =>
        {
            if (c.Text == Volatile.Read(ref expected)) pending?.TrySetResult(Stopwatch.GetTimestamp());
        });
        for (var i = 0; i < count; i++)
        {
            var text = $"latency {i} {Guid.NewGuid()}";
            pending = new TaskCompletionSource<long>(TaskCreationOptions.RunContinuationsAsynchronously);
            Volatile.Write(ref expected, text);
            var sent = Stopwatch.GetTimestamp();
            a.Commands.Tell(new NodeCommands.SayTo(to ?? b.Name, text));
            var received = await pending.Task.WaitAsync(TimeSpan.FromSeconds(30));
            latencies.Add(Stopwatch.GetElapsedTime(sent, received).TotalMilliseconds);
        }
        return latencies;
    }

    public static async Task RunFanout(Bench bench, int clients, int messages)
    {
        // One client broadcasting as fast as it can: its chat and fan-out limits are raised for this measurement.
        var (server, port) = await bench.StartServer(bench.Dir("server-downloads"), "--set", "chat.presence-limit=100000",
            "--set", "limits.chat-per-second=1000000", "--set", "limits.chat-burst=1000000",
            "--set", "limits.fanout-per-second=100000000", "--set", "limits.fanout-burst=100000000");
        await using (server)
        {
            var nodes = await Connect(bench, port, clients, bench.Dir("client-downloads"));
            try
            {
                var receivers = nodes.Skip(1).ToList();
                var counts = new int[receivers.Count];
                var all = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
                var finished = 0;
                var subscriptions = receivers.Select((node, i) => node.System.Subscribe<ChatReceived>(c =>
                {
                    if (!c.Text.StartsWith("fanout ", StringComparison.Ordinal)) return;
                    if (Interlocked.Increment(ref counts[i]) == messages && Interlocked.Increment(ref finished) == receivers.Count) all.TrySetResult();
                })).ToList();
                var clock = Stopwatch.StartNew();
                for (var m = 0; m < messages; m++) nodes[0].Commands.Tell(new NodeCommands.Say($"fanout {m}"));
                await all.Task.WaitAsync(TimeSpan.FromMinutes(5));
                var seconds = clock.Elapsed.TotalSeconds;
                subscriptions.ForEach(s => s.Dispose());
                bench.Report.Add(Fanout, $"messages broadcast per second ({receivers.Count} receivers)", messages / seconds, "msg/s",
                    $"{messages} messages, all delivered to every receiver");
                bench.Report.Add(Fanout, "deliveries per second", messages * (double)receivers.Count / seconds, "msg/s");
            }
            finally
            {
                await Task.WhenAll(nodes.Select(n => n.StopAsync()));
            }
        }
    }
}
