using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using AkkaTcpTransfer.Fuzzing;
using AkkaTcpTransfer.Protocol;

namespace AkkaTcpTransfer.Benchmarks;

/// <summary>6. What TLS costs a connection: the handshake one at a time (warm), a join with and without TLS in the
/// same run, and a thousand clients arriving at the very same moment. (Its cost on file throughput is in section 1,
/// on chat latency in section 3, on memory per idle client in section 5: those run over TLS, the default.)</summary>
public static class TlsBenchmark
{
    private const string Section = "6. TLS handshakes (server process, clients in this process)";

    public static async Task Run(Bench bench, int serial, int burst)
    {
        Console.Error.WriteLine($"tls: {serial} handshakes one at a time, then {burst} at once");
        var (server, port) = await bench.StartServer(bench.Dir("server-downloads"),
            "--set", "server.handshake-timeout=60s", "--set", "connection.idle-timeout=300s", "--set", "chat.presence-limit=100");
        var (plain, plainPort) = await bench.StartServer(bench.Dir("plain-downloads"), "--insecure");
        await using (server)
        await using (plain)
        {
            var fingerprint = server.Fingerprint!;
            var handshakes = new List<double>();
            var joins = new List<double>();
            var plainJoins = new List<double>();
            var warmup = Math.Min(50, serial / 4);
            for (var i = 0; i < warmup + serial; i++)
            {
                var (tls, join) = await Join(port, fingerprint, $"s{i}", WireClient.Loopback(i));
                var (_, plainJoin) = await Join(plainPort, null, $"p{i}", WireClient.Loopback(i));
                if (i < warmup) continue;
                handshakes.Add(tls);
                joins.Add(join);
                plainJoins.Add(plainJoin);
            }
            bench.Report.Add(Section, "TLS 1.3 handshake alone (TCP connected -> TLS done), median", Stats.Median(handshakes), "ms", $"{serial} one at a time, warm");
            bench.Report.Add(Section, "TLS 1.3 handshake alone, p99", Stats.Percentile(handshakes, 99), "ms", "target <= 5 ms");
            bench.Report.Add(Section, "join over TLS (connect -> Welcome), median / p99", Stats.Median(joins), "ms", $"p99 {Report.Format(Stats.Percentile(joins, 99))} ms");
            bench.Report.Add(Section, "join without TLS (connect -> Welcome), median / p99", Stats.Median(plainJoins), "ms", $"p99 {Report.Format(Stats.Percentile(plainJoins, 99))} ms");

            // A crowd at the same instant: every connect started together, no pacing.
            var clients = new WireClient?[burst];
            var failures = new List<string>();
            var clock = Stopwatch.StartNew();
            await Task.WhenAll(Enumerable.Range(0, burst).Select(async i =>
            {
                try
                {
                    clients[i] = await WireClient.JoinAsync(port, $"b{i}", WireClient.Loopback(i));
                }
                catch (Exception e) when (e is IOException or SocketException or InvalidOperationException or System.Security.Authentication.AuthenticationException)
                {
                    lock (failures) failures.Add(e.Message);
                }
            }));
            var seconds = clock.Elapsed.TotalSeconds;
            var joined = clients.Count(c => c is not null);
            bench.Report.Add(Section, $"{burst} clients connecting at once: joined", joined, "clients",
                failures.Count == 0 ? "target: all" : $"first failure: {failures[0]}");
            bench.Report.Add(Section, $"{burst} clients connecting at once: until the last was in", seconds, "s");
            foreach (var c in clients) c?.Dispose();
            await server.SendLine("/quit");
            await plain.SendLine("/quit");
            await Task.WhenAll(server.WaitForExit(), plain.WaitForExit());
        }
    }

    /// <summary>One client joining: milliseconds for the TLS handshake alone (0 without TLS) and for the whole join
    /// (TCP connect, TLS, Hello, Welcome).</summary>
    private static async Task<(double Tls, double Join)> Join(int port, string? fingerprint, string name, IPAddress from)
    {
        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        socket.Bind(new IPEndPoint(from, 0));
        var join = Stopwatch.StartNew();
        await socket.ConnectAsync(new IPEndPoint(IPAddress.Loopback, port));
        Stream stream = new NetworkStream(socket, ownsSocket: false);
        var tls = 0.0;
        if (fingerprint is not null)
        {
            var handshake = Stopwatch.StartNew();
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
            var (secured, clear) = await StrangerTls.ConnectAsync(stream, fingerprint, timeout.Token);
            if (clear.Length > 0) throw new InvalidOperationException("refused before TLS");
            tls = handshake.Elapsed.TotalMilliseconds;
            stream = secured;
        }
        await stream.WriteAsync(FrameEncoder.Encode(new Hello(ProtocolLimits.Version, WireClient.MaxFrame, name, "", [])));
        var decoder = new FrameDecoder(ProtocolLimits.AbsoluteMaxFrameLength);
        var frames = new List<Frame>();
        var buffer = new byte[64 * 1024];
        while (frames.Count == 0)
        {
            var n = await stream.ReadAsync(buffer);
            if (n == 0) throw new InvalidOperationException($"{name}: closed before Welcome");
            decoder.Decode(buffer.AsSpan(0, n), frames);
        }
        var elapsed = join.Elapsed.TotalMilliseconds;
        if (frames[0] is not Welcome) throw new InvalidOperationException($"{name}: expected Welcome, got {frames[0]}");
        await stream.WriteAsync(FrameEncoder.Encode(new Goodbye(WireCode.Normal, "measured")));
        await stream.DisposeAsync();
        return (tls, elapsed);
    }
}
