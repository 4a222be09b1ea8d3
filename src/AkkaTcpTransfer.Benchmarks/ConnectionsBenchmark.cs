using System.Diagnostics;

namespace AkkaTcpTransfer.Benchmarks;

/// <summary>5. Many clients on one server: C lightweight clients (plain sockets speaking the protocol, as
/// docs/PROTOCOL.md describes it) connect and say hello; then one broadcast from the server must reach all of them.
/// Reports the time to connect, the time for the broadcast to reach the last client, and the server's peak memory.</summary>
public static class ConnectionsBenchmark
{
    private const string Section = "5. connections (one server, many clients)";

    /// <param name="tls">Over TLS (the default) or without (--insecure), to show what TLS costs per client.</param>
    public static async Task Run(Bench bench, int count, bool tls = true)
    {
        Console.Error.WriteLine($"connections: {count}{(tls ? "" : " without TLS")}");
        var label = tls ? $"{count} clients" : $"{count} clients without TLS";
        var (server, port) = await bench.StartServer(bench.Dir("server-downloads"),
            ["--set", "connection.idle-timeout=300s", "--set", "server.handshake-timeout=60s", .. tls ? Array.Empty<string>() : ["--insecure"]]);
        await using (server)
        {
            var baseline = server.PeakResidentBytes() ?? 0;
            var clients = new List<WireClient>(count);
            try
            {
                // Who spends the CPU of a join: the server, or the clients (this process) sharing its cores.
                var serverCpu0 = server.CpuTime() ?? TimeSpan.Zero;
                var clientsCpu0 = Process.GetCurrentProcess().TotalProcessorTime;
                var connect = Stopwatch.StartNew();
                // At most 256 handshakes in flight, like a crowd arriving rather than a flood.
                using var gate = new SemaphoreSlim(256);
                var joins = Enumerable.Range(0, count).Select(async i =>
                {
                    await gate.WaitAsync();
                    try
                    {
                        var client = await WireClient.JoinAsync(port, $"u{i}", WireClient.Loopback(i));
                        lock (clients) clients.Add(client);
                    }
                    finally
                    {
                        gate.Release();
                    }
                }).ToList();
                await Task.WhenAll(joins);
                var connectSeconds = connect.Elapsed.TotalSeconds;
                var serverCpu = ((server.CpuTime() ?? TimeSpan.Zero) - serverCpu0).TotalSeconds;
                var clientsCpu = (Process.GetCurrentProcess().TotalProcessorTime - clientsCpu0).TotalSeconds;

                var listening = clients.Select(c => c.WaitForChatAsync("hello everyone")).ToList();
                var broadcast = Stopwatch.StartNew();
                await server.SendLine("hello everyone");
                await Task.WhenAll(listening).WaitAsync(TimeSpan.FromMinutes(2));
                var reachAll = broadcast.Elapsed.TotalMilliseconds;
                var peak = server.PeakResidentBytes() ?? 0;
                // Idle for a while (pings go both ways): what the server holds for them, rather than its high-water
                // mark while they arrived (TLS handshakes make short-lived garbage).
                await Task.Delay(bench.Smoke ? TimeSpan.FromSeconds(1) : TimeSpan.FromSeconds(10));
                var settled = server.ResidentBytes() ?? 0;

                bench.Report.Add(Section, $"{label}: time to connect and handshake", connectSeconds, "s");
                bench.Report.Add(Section, $"{label}: server CPU per join", serverCpu / count * 1000, "core-ms");
                bench.Report.Add(Section, $"{label}: clients' CPU per join (this process, same cores)", clientsCpu / count * 1000, "core-ms");
                bench.Report.Add(Section, $"{label}: the server's CPU alone, spread over {Environment.ProcessorCount} cores", serverCpu / Environment.ProcessorCount, "s",
                    "what joining would take with the clients on other machines");
                bench.Report.Add(Section, $"{label}: one broadcast reaches all", reachAll, "ms", "target <= 1000 ms at 10,000");
                bench.Report.Add(Section, $"{label}: server peak memory", peak / 1048576.0, "MiB");
                bench.Report.Add(Section, $"{label}: server memory, idle 10 s later", settled / 1048576.0, "MiB", "target <= 1024 MiB at 10,000");
                bench.Report.Add(Section, $"{label}: server memory per client (idle)", (settled - baseline) / (double)count / 1024, "KiB");
            }
            finally
            {
                foreach (var c in clients) c.Dispose();
                await server.SendLine("/quit");
                await server.WaitForExit();
            }
        }
    }
}
