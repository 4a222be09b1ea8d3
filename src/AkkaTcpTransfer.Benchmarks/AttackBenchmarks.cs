using System.Diagnostics;
using System.Globalization;
using System.Net;
using AkkaTcpTransfer.Events;
using AkkaTcpTransfer.Fuzzing;
using Akka.Actor;
using AkkaTcpTransfer.Hosting;
using AkkaTcpTransfer.Protocol;

namespace AkkaTcpTransfer.Benchmarks;

/// <summary>6. The server under attack, with its default settings: one client flooding chat, who or offers at full
/// speed while others chat; peers that never read while others broadcast; more silent connections than the process
/// has file descriptors; and a live fuzzer sending mutated frames over many connections. Each reports what the server
/// held (memory), whether it lived, and what the well-behaved clients saw.</summary>
public static class AttackBenchmarks
{
    private const string Section = "7. under attack (default settings)";

    private static double MiB(long? bytes) => (bytes ?? 0) / 1048576.0;

    private static readonly Dictionary<string, Func<int, Frame>> Floods = new()
    {
        ["chat"] = i => new Say((uint)i, "", $"flood {i}"),
        ["who"] = _ => WhoRequest.Instance,
        ["offers"] = i => new Offer((uint)(i + 1), "", [], "server", $"f{i}.bin", 1000, 1),
    };

    /// <summary>(helper process) Floods the server at <paramref name="port"/> with <paramref name="kind"/> frames for
    /// <paramref name="seconds"/> seconds, then prints one JSON line: {"event":"flooded","disconnects":N}. A process of
    /// its own, as an attacker is: its busy loop must not starve the well-behaved clients measured in the bench process.</summary>
    public static async Task<int> FloodProcess(int port, string kind, int seconds)
    {
        using var stop = new CancellationTokenSource(TimeSpan.FromSeconds(seconds));
        var disconnects = await Flood(port, Floods[kind], stop.Token);
        Console.WriteLine($"{{\"event\":\"flooded\",\"disconnects\":{disconnects}}}");
        return 0;
    }

    /// <summary>A flooder that joins and sends <paramref name="frame"/> as fast as the socket takes it; when the server
    /// closes it, it joins again. Returns how many times it was disconnected.</summary>
    private static async Task<int> Flood(int port, Func<int, Frame> frame, CancellationToken stop)
    {
        var disconnects = 0;
        var n = 0;
        while (!stop.IsCancellationRequested)
        {
            try
            {
                using var flooder = await WireClient.JoinAsync(port, $"flooder{n++}", WireClient.Loopback(200), ct: stop);
                var drain = flooder.DrainUntilClosedAsync(stop);
                var batch = Enumerable.Range(0, 256).SelectMany(i => FrameEncoder.Encode(frame(i))).ToArray();
                while (!stop.IsCancellationRequested && !drain.IsCompleted) await flooder.SendRawAsync(batch, stop);
                await drain;
                disconnects++;
            }
            catch (Exception e) when (e is IOException or System.Net.Sockets.SocketException or InvalidOperationException or OperationCanceledException)
            {
                if (!stop.IsCancellationRequested) disconnects++;
            }
        }
        return disconnects;
    }

    public static async Task RunFloods(Bench bench, int clients, TimeSpan duration)
    {
        foreach (var kind in Floods.Keys)
        {
            Console.Error.WriteLine($"flood: {kind}");
            var (server, port) = await bench.StartServer(bench.Dir("server-downloads"), "--set", "chat.presence-limit=100000");
            await using (server)
            {
                var nodes = await ChatBenchmarks.Connect(bench, port, clients, bench.Dir("client-downloads"));
                var dropped = 0;
                var subscriptions = nodes.Select(n => n.System.Subscribe<Disconnected>(_ => Interlocked.Increment(ref dropped))).ToList();

                try
                {
                    var before = server.ResidentBytes();
                    await using var flooder = JsonEventProcess.Start(Bench.SelfAssembly, bench.WorkDir, duration + TimeSpan.FromSeconds(30),
                        ["flooder", "--port", I(port), "--kind", kind, "--seconds", I((long)duration.TotalSeconds),
                        .. server.Fingerprint is { } f ? new[] { "--fingerprint", f } : []]);
                    // While the flood runs: direct messages between pairs of the well-behaved clients, one at a time, each
                    // from the next client in turn.
                    var latencies = new List<double>();
                    var clock = Stopwatch.StartNew();
                    var pair = 0;
                    while (clock.Elapsed < duration)
                    {
                        var (a, b) = (nodes[pair % nodes.Count], nodes[(pair + 1) % nodes.Count]);
                        pair++;
                        latencies.AddRange(await ChatBenchmarks.Measure(a, b, 1));
                        // People chat at human speed: one message every 20 ms over all of them keeps each sender well
                        // under its own rate limit, so what is measured is the flood's effect, not the limit's.
                        await Task.Delay(20);
                    }
                    var disconnects = (await flooder.WaitFor("flooded")).GetProperty("disconnects").GetInt32();
                    var peak = server.PeakResidentBytes();
                    bench.Report.Add(Section, $"{kind} flood: server peak memory", MiB(peak), "MiB", $"target < 256; {MiB(before):0} before");
                    bench.Report.Add(Section, $"{kind} flood: chat p99 of the {clients} others", Stats.Percentile(latencies, 99), "ms",
                        $"target <= 10; p50 {Stats.Percentile(latencies, 50):0.00}, {latencies.Count} messages");
                    bench.Report.Add(Section, $"{kind} flood: well-behaved clients dropped", dropped, "", "target 0");
                    bench.Report.Add(Section, $"{kind} flood: flooder connections closed or refused", disconnects, "",
                        $"in {duration.TotalSeconds:0} s; it reconnected at once each time");
                }
                finally
                {
                    subscriptions.ForEach(s => s.Dispose());
                    await Task.WhenAll(nodes.Select(n => n.StopAsync()));
                }
            }
        }
    }

    public static async Task RunSlowReaders(Bench bench, int sleepers, int readers, TimeSpan duration)
    {
        Console.Error.WriteLine($"slow readers: {sleepers}");
        var (server, port) = await bench.StartServer(bench.Dir("server-downloads"), "--set", "chat.presence-limit=100000");
        await using (server)
        {
            var nodes = await ChatBenchmarks.Connect(bench, port, readers, bench.Dir("client-downloads"));
            var idle = new List<WireClient>();
            try
            {
                for (var i = 0; i < sleepers; i++) idle.Add(await WireClient.JoinAsync(port, $"sleeper{i}", WireClient.Loopback(10 + i), receiveBuffer: 4096));
                var gone = 0;
                using var left = server.Subscribe("peer-left", e =>
                {
                    if (e.GetProperty("name").GetString()!.StartsWith("sleeper", StringComparison.Ordinal)) Interlocked.Increment(ref gone);
                });
                var before = server.ResidentBytes();
                var text = new string('z', 16_000);
                var sent = 0;
                var received = 0;
                using var counting = nodes[^1].System.Subscribe<ChatReceived>(c => Interlocked.Increment(ref received));
                var clock = Stopwatch.StartNew();
                double? allGone = null;
                // The broadcaster stays within its own rate limit (20 lines a second): this is ordinary traffic.
                while (clock.Elapsed < duration)
                {
                    nodes[0].Commands.Tell(new NodeCommands.Say($"{sent++} {text}"));
                    await Task.Delay(50);
                    if (allGone is null && Volatile.Read(ref gone) == sleepers) allGone = clock.Elapsed.TotalSeconds;
                }
                var deadline = Stopwatch.StartNew();
                while (Volatile.Read(ref received) < sent && deadline.Elapsed < TimeSpan.FromSeconds(30)) await Task.Delay(20);
                bench.Report.Add(Section, $"{sleepers} never-readers: server peak memory", MiB(server.PeakResidentBytes()), "MiB",
                    $"node send budget 256 MiB; {MiB(before):0} before");
                bench.Report.Add(Section, $"{sleepers} never-readers: dropped", Volatile.Read(ref gone), "",
                    allGone is { } t ? $"all within {t:0.0} s" : $"of {sleepers} within {duration.TotalSeconds:0} s");
                bench.Report.Add(Section, $"{sleepers} never-readers: lines a reader missed", sent - Volatile.Read(ref received), "", $"of {sent}; target 0");
            }
            finally
            {
                idle.ForEach(c => c.Dispose());
                await Task.WhenAll(nodes.Select(n => n.StopAsync()));
            }
        }
    }

    /// <summary>More silent connections than the server process has descriptors (its limit set with ulimit), from many
    /// addresses so that the per-address limits are not what stops them.</summary>
    public static async Task RunDescriptors(Bench bench, int limit, int connections)
    {
        Console.Error.WriteLine($"descriptors: {connections} silent connections at a limit of {limit}");
        var downloads = bench.Dir("server-downloads");
        var server = JsonEventProcess.Start(Bench.CliAssembly, bench.WorkDir, Bench.LongWait, openFileLimit: limit, environment: null,
            ["server", "--port", "0", "--json", "--downloads", downloads, "--state-dir", Directory.CreateTempSubdirectory("server-state-").FullName,
                "--set", "akka.loglevel=ERROR", "--set", "server.handshake-timeout=60s"]);
        await using (server)
        {
            var port = await server.Listening();
            WireClient.Trust(port, server.Fingerprint);
            var silent = new List<WireClient>();
            try
            {
                var refusedAtOnce = 0;
                for (var i = 0; i < connections; i++)
                {
                    // Silent from the first byte: not even a TLS handshake (which the handshake timeout covers too).
                    var c = await WireClient.ConnectAsync(port, WireClient.Loopback(i), tcpOnly: true);
                    silent.Add(c);
                }
                // Which of them were turned away at once (a Refused arrives without a Hello)?
                var probes = silent.Select(async c =>
                {
                    using var cts = new CancellationTokenSource(TimeSpan.FromMilliseconds(1500));
                    try
                    {
                        return await c.NextAsync(cts.Token) is Refused;
                    }
                    catch (Exception e) when (e is OperationCanceledException or IOException or System.Net.Sockets.SocketException)
                    {
                        return false;
                    }
                });
                refusedAtOnce = (await Task.WhenAll(probes)).Count(r => r);
                // A well-behaved client during the attack, from an address of its own.
                var joined = Stopwatch.StartNew();
                string during;
                try
                {
                    using var ok = await WireClient.JoinAsync(port, "welcome", IPAddress.Parse("127.0.1.1"));
                    during = $"joined in {joined.Elapsed.TotalMilliseconds:0} ms";
                }
                catch (Exception e) when (e is InvalidOperationException or IOException or System.Net.Sockets.SocketException)
                {
                    during = $"refused: {e.Message}";
                }
                silent.ForEach(c => c.Dispose());
                silent.Clear();
                // After they go: a crowd of 50 gets in again.
                var after = 0;
                for (var i = 0; i < 50; i++)
                {
                    try
                    {
                        using var c = await WireClient.JoinAsync(port, $"after{i}", WireClient.Loopback(i));
                        after++;
                    }
                    catch (Exception e) when (e is InvalidOperationException or IOException or System.Net.Sockets.SocketException)
                    {
                        await Task.Delay(100); // descriptors come back as the server notices the closed sockets
                    }
                }
                // Why, when it went wrong: the server's last words (its stderr is otherwise lost with the process).
                if (after < 50 || server.HasExited)
                    Console.Error.WriteLine($"descriptors: the server's stderr ends with:\n{(server.Stderr.Length > 4000 ? server.Stderr[^4000..] : server.Stderr)}");
                bench.Report.Add(Section, $"{connections} silent connections at a {limit}-descriptor limit: server alive", server.HasExited ? 0 : 1, "",
                    server.HasExited ? "DIED" : "yes");
                bench.Report.Add(Section, $"{connections} silent connections at a {limit}-descriptor limit: refused at once", refusedAtOnce, "",
                    "the rest held until the handshake timeout");
                bench.Report.Add(Section, $"{connections} silent connections at a {limit}-descriptor limit: a client during the attack",
                    during.StartsWith("joined", StringComparison.Ordinal) ? 1 : 0, "", during);
                bench.Report.Add(Section, $"{connections} silent connections at a {limit}-descriptor limit: clients in after they left", after, "", "of 50");
                bench.Report.Add(Section, $"{connections} silent connections at a {limit}-descriptor limit: server peak memory", MiB(server.PeakResidentBytes()), "MiB");
            }
            finally
            {
                silent.ForEach(c => c.Dispose());
                if (!server.HasExited)
                {
                    await server.SendLine("/quit");
                    await server.WaitForExit();
                }
            }
        }
    }

    /// <summary>The live fuzzer: <paramref name="connections"/> workers, each joining (or not) and sending mutated frames
    /// of every type until the server closes it, then again, until <paramref name="frames"/> frames have been sent. Then
    /// the server must still be alive and serve a well-behaved client.</summary>
    public static async Task RunFuzz(Bench bench, long frames, int connections)
    {
        Console.Error.WriteLine($"fuzz: {frames} frames over {connections} connections at a time");
        var (server, port) = await bench.StartServer(bench.Dir("server-downloads"));
        await using (server)
        {
            var baseline = server.ResidentBytes();
            long sent = 0, opened = 0, closedByServer = 0;
            var clock = Stopwatch.StartNew();
            var workers = Enumerable.Range(0, connections).Select(async w =>
            {
                var random = new Random(w);
                var mutator = new FrameMutator(random);
                while (Interlocked.Read(ref sent) < frames)
                {
                    try
                    {
                        using var c = await WireClient.ConnectAsync(port, WireClient.Loopback(w));
                        Interlocked.Increment(ref opened);
                        var name = $"fz{w}x{random.Next(1_000_000)}";
                        if (random.Next(10) < 7)
                        {
                            await c.SendAsync(new Hello(ProtocolLimits.Version, WireClient.MaxFrame, name, "", []));
                            using var welcome = new CancellationTokenSource(TimeSpan.FromSeconds(5));
                            await c.NextAsync(welcome.Token);
                        }
                        // A few frames, well-formed ones leading to a mutation or two, so that the mutations meet a
                        // session in every state; then see whether the server closes the connection.
                        var seeds = SeedFrames.All(name, (uint)random.Next(1, int.MaxValue)).Select(FrameEncoder.Encode).ToArray();
                        var count = random.Next(1, 17);
                        var batch = new List<byte>();
                        for (var i = 0; i < count; i++)
                        {
                            var seed = seeds[random.Next(seeds.Length)];
                            batch.AddRange(random.Next(3) == 0 ? seed : mutator.Mutate(seed).Bytes);
                        }
                        await c.SendRawAsync(batch.ToArray());
                        Interlocked.Add(ref sent, count);
                        using var quiet = new CancellationTokenSource(TimeSpan.FromMilliseconds(300));
                        var drain = c.DrainUntilClosedAsync(quiet.Token);
                        await drain;
                        if (!quiet.IsCancellationRequested) Interlocked.Increment(ref closedByServer);
                    }
                    catch (Exception e) when (e is IOException or System.Net.Sockets.SocketException or ObjectDisposedException or OperationCanceledException or ProtocolException)
                    {
                        Interlocked.Increment(ref closedByServer);
                    }
                }
            }).ToList();
            await Task.WhenAll(workers);
            var seconds = clock.Elapsed.TotalSeconds;
            var peak = server.PeakResidentBytes();
            // After: a well-behaved pair chats, and memory settles.
            using var a = await WireClient.JoinAsync(port, "after-a", IPAddress.Parse("127.0.1.1"));
            using var b = await WireClient.JoinAsync(port, "after-b", IPAddress.Parse("127.0.1.2"));
            await a.SendAsync(new Say(1, "after-b", "still serving"));
            using var wait = new CancellationTokenSource(TimeSpan.FromSeconds(10));
            await b.WaitForChatAsync("still serving", wait.Token);
            await Task.Delay(TimeSpan.FromSeconds(bench.Smoke ? 1 : 10));
            var after = server.ResidentBytes();
            bench.Report.Add(Section, "fuzz: frames sent", Interlocked.Read(ref sent), "", $"{Interlocked.Read(ref sent) / seconds:0} per second");
            bench.Report.Add(Section, "fuzz: connections", Interlocked.Read(ref opened), "", $"{Interlocked.Read(ref closedByServer)} closed by the server for a violation");
            bench.Report.Add(Section, "fuzz: server crashes", server.HasExited ? 1 : 0, "", "a well-behaved pair chatted afterwards");
            bench.Report.Add(Section, "fuzz: server memory before / peak / after", MiB(after), "MiB",
                $"{MiB(baseline):0} before, {MiB(peak):0} peak, {MiB(after):0} after (10 s later)");
            await server.SendLine("/quit");
            await server.WaitForExit();
        }
    }

    public static string I(long v) => v.ToString(CultureInfo.InvariantCulture);
}
