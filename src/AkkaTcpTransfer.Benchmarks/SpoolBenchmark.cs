using System.Diagnostics;
using System.Net;
using System.Net.Sockets;

namespace AkkaTcpTransfer.Benchmarks;

/// <summary>12. One upload to many: a file sent to five recipient processes at once (kept by the server, offered to
/// each), against the same file sent to one of them (relayed, the baseline) in the same run; then the same with one
/// recipient behind a link throttled to 1 MiB/s.</summary>
public static class SpoolBenchmark
{
    private const string Section = "12. kept files: one upload to many recipients (server process, TLS)";
    private const int Recipients = 5;
    private const int ThrottledBytesPerSecond = 1 << 20;

    public static async Task Run(Bench bench, long size, int runs)
    {
        // A copy of the shared source file: this scenario changes it run by run.
        var source = Path.Combine(bench.WorkDir, "spool-source.bin");
        File.Copy(bench.SourceFile(size), source, overwrite: true);
        string sha;
        var (server, port) = await bench.StartServer(bench.Dir("spool-server"));
        await using var _ = server;
        var folders = Enumerable.Range(1, Recipients).Select(i => bench.Dir($"spool-r{i}")).ToArray();
        var recipients = new List<JsonEventProcess>();
        for (var i = 0; i < Recipients; i++) recipients.Add(await bench.StartClient(port, $"r{i + 1}", folders[i]));
        await using var sender = await bench.StartClient(port, "sender", bench.Dir("spool-sender"));
        var names = string.Join(',', Enumerable.Range(1, Recipients).Select(i => $"r{i}"));

        var single = new List<double>();
        var upload = new List<double>();
        var all = new List<double>();
        var fourAlone = new List<double>();
        var fourThrottled = new List<double>();
        var again = new List<double>();
        var (relayPeak, fanoutPeak, throttledPeak) = (new List<double>(), new List<double>(), new List<double>());
        double Peak() => (server.PeakResidentBytes() ?? 0) / 1048576.0;
        // CPU of every process of the run (server, sender, recipients): how busy the machine's cores were.
        List<JsonEventProcess> processes = [server, sender, .. recipients];
        double Cpu() => processes.Sum(p => p.CpuTime()?.TotalSeconds ?? 0);
        var (relayBusy, fanoutBusy) = (new List<double>(), new List<double>());
        // The server's own CPU per GiB that reached a recipient: what a server pays per delivery, whoever else runs here.
        double ServerCpu() => server.CpuTime()?.TotalSeconds ?? 0;
        var (relayServer, fanoutServer) = (new List<double>(), new List<double>());
        var gib = size / (double)(1L << 30);
        try
        {
            for (var run = 1; run <= runs; run++)
            {
                Console.Error.WriteLine($"spool run {run}/{runs}");
                // New content each run: the server keeps what earlier runs sent, and would not take it again.
                sha = NewContent(source, run);
                // To all five, first: the sender is done when the server holds it (its hash computed first: content new to this
                // process), and everyone has it when the last one does.
                server.ResetPeak();
                var cpu = Cpu();
                var serverCpu = ServerCpu();
                var (held, done) = await ToMany(sender, recipients, names, source, sha);
                fanoutBusy.Add((Cpu() - cpu) / done.Max());
                fanoutServer.Add((ServerCpu() - serverCpu) / (Recipients * gib));
                fanoutPeak.Add(Peak());
                upload.Add(held);
                all.Add(done.Max());
                fourAlone.Add(done.Take(Recipients - 1).Max());
                Clear(folders);
                Bench.Sync();

                // The baseline: the same file to one recipient, relayed (nothing kept).
                server.ResetPeak();
                cpu = Cpu();
                serverCpu = ServerCpu();
                var clock = Stopwatch.StartNew();
                var mark = sender.Mark();
                await sender.SendLine($"/send r1 {source}");
                await sender.WaitFor("transfer-completed", after: mark);
                single.Add(clock.Elapsed.TotalSeconds);
                relayBusy.Add((Cpu() - cpu) / clock.Elapsed.TotalSeconds);
                relayServer.Add((ServerCpu() - serverCpu) / gib);
                relayPeak.Add(Peak());
                Clear(folders);
                Bench.Sync();

                // The fifth behind a throttled link: the other four, measured as above.
                using var throttle = new ThrottleProxy(port, ThrottledBytesPerSecond);
                bench.TrustLike(throttle.Port, port);
                var slowFolder = bench.Dir($"spool-slow-{run}");
                await using var slow = await bench.StartClient(throttle.Port, $"slow{run}", slowFolder);
                var fourNames = string.Join(',', Enumerable.Range(1, Recipients - 1).Select(i => $"r{i}")) + $",slow{run}";
                server.ResetPeak();
                var (_, throttledDone) = await ToMany(sender, recipients.Take(Recipients - 1).ToList(), fourNames, source, sha);
                throttledPeak.Add(Peak());
                fourThrottled.Add(throttledDone.Max());
                Clear(folders);
                Bench.Sync();

                // The same content again, while the server still keeps it (for the slow recipient): proved, not sent.
                var marks = recipients.Take(2).Select(r => r.Mark()).ToList();
                mark = sender.Mark();
                clock.Restart();
                await sender.SendLine($"/send r1,r2 {source}");
                await sender.WaitFor("transfer-held", after: mark);
                again.Add(clock.Elapsed.TotalSeconds);
                for (var i = 0; i < 2; i++) await recipients[i].WaitFor("transfer-completed", after: marks[i]);
                Clear(folders);
                Bench.Sync();
            }
            var baseline = Stats.Median(single);
            bench.Report.Add(Section, "a file to one recipient, relayed (baseline)", baseline, "s", $"{Report.Format(size / 1048576.0)} MiB, median of {single.Count}");
            bench.Report.Add(Section, $"to {Recipients} at once: the sender is done (the server holds it)", Stats.Median(upload), "s", $"median of {upload.Count}");
            bench.Report.Add(Section, $"to {Recipients} at once: every recipient has it", Stats.Median(all), "s", $"median of {all.Count}");
            bench.Report.Add(Section, "ratio: the sender's time to five / to one", Stats.Median(upload) / baseline, "x", "target <= 1.2");
            bench.Report.Add(Section, $"ratio: everyone has it / {Recipients} sends one after another ({Recipients} x the baseline)",
                Stats.Median(all) / (Recipients * baseline), "x", "target <= 0.5");
            bench.Report.Add(Section, "the same content again, kept by the server already: the sender is done", Stats.Median(again), "s",
                $"median of {again.Count}; target < 1 s whatever the size (hashed when sent before, then proved by a 64 KiB slice)");
            bench.Report.Add(Section, "server CPU per GiB delivered: relayed / kept and sent to five", Stats.Median(relayServer), "core-s/GiB",
                $"kept: {Report.Format(Stats.Median(fanoutServer))} (the upload received, written and synced once, counted over the five)");
            bench.Report.Add(Section, "cores busy (every process of the run): relaying one file / sending to five", Stats.Median(relayBusy), "cores",
                $"to five: {Report.Format(Stats.Median(fanoutBusy))}, of {Environment.ProcessorCount}");
            bench.Report.Add(Section, "four recipients' time with a fifth at 1 MiB/s / without it",
                Stats.Median(fourThrottled) / Stats.Median(fourAlone), "x", "target <= 1.2");
            bench.Report.Add(Section, "server peak memory (resident): relaying one file (baseline)", relayPeak.Max(), "MiB", "highest of the runs");
            bench.Report.Add(Section, $"server peak memory (resident): receiving one file and sending it to {Recipients}", fanoutPeak.Max(), "MiB",
                "highest of the runs; target <= 150");
            bench.Report.Add(Section, "server peak memory (resident): the same with one recipient at 1 MiB/s", throttledPeak.Max(), "MiB", "highest of the runs");
        }
        finally
        {
            foreach (var r in recipients) await r.DisposeAsync();
        }
    }

    /// <summary>Sends <paramref name="source"/> to <paramref name="names"/>; returns when the server held it and when each
    /// of <paramref name="waitFor"/> had it, in seconds from the send, each checked against <paramref name="sha"/>.</summary>
    private static async Task<(double Held, List<double> Done)> ToMany(JsonEventProcess sender, List<JsonEventProcess> waitFor, string names, string source,
        string sha)
    {
        var marks = waitFor.Select(r => r.Mark()).ToList();
        var mark = sender.Mark();
        var clock = Stopwatch.StartNew();
        await sender.SendLine($"/send {names} {source}");
        var finished = waitFor.Select(async (r, i) =>
        {
            var completed = await r.WaitFor("transfer-completed", after: marks[i]);
            var seconds = clock.Elapsed.TotalSeconds;
            if (completed.GetProperty("sha256").GetString() != sha) throw new InvalidOperationException("a recipient got different bytes");
            return seconds;
        }).ToList();
        await sender.WaitFor("transfer-held", after: mark);
        var held = clock.Elapsed.TotalSeconds;
        var done = (await Task.WhenAll(finished)).Order().ToList();
        return (held, done);
    }

    /// <summary>Makes <paramref name="source"/> new content (its first bytes say which run), returns its SHA-256.</summary>
    private static string NewContent(string source, int run)
    {
        using (var stream = new FileStream(source, FileMode.Open, FileAccess.Write))
            stream.Write(BitConverter.GetBytes((long)run * 7919 + Environment.ProcessId));
        return Bench.Sha256(source);
    }

    private static void Clear(string[] folders)
    {
        foreach (var folder in folders)
            foreach (var file in Directory.GetFiles(folder)) File.Delete(file);
    }

    /// <summary>A TCP relay in this process that passes what the server sends at most <c>rate</c> bytes a second
    /// (what the client sends passes freely): a recipient on a slow link.</summary>
    private sealed class ThrottleProxy : IDisposable
    {
        private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
        private readonly CancellationTokenSource _stop = new();
        private readonly List<TcpClient> _open = [];

        public ThrottleProxy(int serverPort, int rate)
        {
            _listener.Start();
            Port = ((IPEndPoint)_listener.LocalEndpoint).Port;
            _ = Task.Run(async () =>
            {
                while (!_stop.IsCancellationRequested)
                {
                    TcpClient client;
                    try
                    {
                        client = await _listener.AcceptTcpClientAsync(_stop.Token);
                    }
                    catch (Exception e) when (e is OperationCanceledException or SocketException or ObjectDisposedException)
                    {
                        return;
                    }
                    var upstream = new TcpClient();
                    await upstream.ConnectAsync(IPAddress.Loopback, serverPort);
                    lock (_open) _open.AddRange([client, upstream]);
                    _ = Pump(client.GetStream(), upstream.GetStream(), int.MaxValue);
                    _ = Pump(upstream.GetStream(), client.GetStream(), rate);
                }
            });
        }

        public int Port { get; }

        private async Task Pump(Stream from, Stream to, int rate)
        {
            var buffer = new byte[16 * 1024];
            var clock = Stopwatch.StartNew();
            long moved = 0;
            try
            {
                while (true)
                {
                    var n = await from.ReadAsync(buffer, _stop.Token);
                    if (n == 0) return;
                    await to.WriteAsync(buffer.AsMemory(0, n), _stop.Token);
                    moved += n;
                    var due = TimeSpan.FromSeconds(moved / (double)rate) - clock.Elapsed;
                    if (due > TimeSpan.Zero) await Task.Delay(due, _stop.Token);
                }
            }
            catch (Exception e) when (e is IOException or OperationCanceledException or ObjectDisposedException or SocketException)
            {
                // The run is over, or a side closed.
            }
        }

        public void Dispose()
        {
            _stop.Cancel();
            _listener.Stop();
            lock (_open) foreach (var c in _open) c.Dispose();
        }
    }
}
