using System.Diagnostics;
using System.Text.Json;

namespace AkkaTcpTransfer.Benchmarks;

/// <summary>1. A file from a client process to a server process, written to disk and SHA-256-verified end to end,
/// beside a plain .NET socket copy and nc piping the same file to a file, in the same run, interleaved.</summary>
public static class ThroughputBenchmark
{
    private const string Section = "1. file throughput (client process -> server process, to disk)";

    public static async Task Run(Bench bench, long size, int runs)
    {
        var source = bench.SourceFile(size);
        var sha = Bench.Sha256(source);
        var mib = size / 1048576.0;
        var nc = Bench.Which("nc");
        var scpMissing = ScpBaseline.Missing();
        using var scp = scpMissing is null ? await ScpBaseline.Start(bench) : null;
        var results = new Dictionary<string, List<double>>();
        void Note(string variant, double seconds) => (results.TryGetValue(variant, out var l) ? l : results[variant] = []).Add(mib / seconds);
        var cores = new List<double>();
        var plainCores = new List<double>();

        for (var run = 1; run <= runs; run++)
        {
            Console.Error.WriteLine($"throughput run {run}/{runs} ({mib:0} MiB)");
            Note("raw", await RawSocket(bench, source, size));
            Bench.Sync();
            Note("akka", await BareAkka(bench, size, sha: false));
            Note("akka-sha", await BareAkka(bench, size, sha: true));
            Bench.Sync();
            var bound = await TlsBoundRun(bench, source, size, sha);
            Note("akka-tls", bound.Seconds);
            (Costs.TryGetValue("bound", out var boundCosts) ? boundCosts : Costs["bound"] = []).Add(bound.Cost);
            Bench.Sync();
            if (nc is not null)
            {
                var (ncSeconds, fsyncSeconds) = await Netcat(bench, source, size);
                Note("nc", ncSeconds);
                Note("nc-fsync", ncSeconds + fsyncSeconds);
                Bench.Sync();
            }
            if (scp is not null)
            {
                Note("scp", await scp.Copy(source, size));
                Bench.Sync();
            }
            var (seconds, cpu) = await Ours(bench, source, sha, sync: false);
            Note("ours", seconds);
            cores.Add(cpu / seconds);
            Bench.Sync();
            var (plainSeconds, plainCpu) = await Ours(bench, source, sha, sync: false, tls: false);
            Note("ours-plain", plainSeconds);
            plainCores.Add(plainCpu / plainSeconds);
            Bench.Sync();
            Note("ours-fsync", (await Ours(bench, source, sha, sync: true)).Seconds);
            Bench.Sync();
        }

        var raw = Stats.Median(results["raw"]);
        var ours = Stats.Median(results["ours"]);
        string Range(string v) => $"median of {results[v].Count}, range {Report.Format(results[v].Min())}-{Report.Format(results[v].Max())}";
        bench.Report.Add(Section, "plain .NET socket copy to file (baseline)", raw, "MiB/s", Range("raw"));
        if (nc is not null)
        {
            bench.Report.Add(Section, "nc -> file (baseline)", Stats.Median(results["nc"]), "MiB/s", Range("nc"));
            bench.Report.Add(Section, "nc -> file, then fsync (baseline: our durability)", Stats.Median(results["nc-fsync"]), "MiB/s", Range("nc-fsync"));
        }
        if (scp is not null) bench.Report.Add(Section, "scp, AES-128-GCM, to a file (baseline)", Stats.Median(results["scp"]), "MiB/s", Range("scp") + "; its own sshd on 127.0.0.1");
        bench.Report.Add(Section, "bare Akka.IO, 64 KiB writes, no file, no hash (bound)", Stats.Median(results["akka"]), "MiB/s", Range("akka"));
        bench.Report.Add(Section, "bare Akka.IO + SHA-256 both ends, no file (bound)", Stats.Median(results["akka-sha"]), "MiB/s", Range("akka-sha"));
        bench.Report.Add(Section, "bare Akka.IO + TLS 1.3 + SHA-256 both ends, file read and written (bound with TLS)", Stats.Median(results["akka-tls"]), "MiB/s",
            Range("akka-tls") + "; SslStream over the product's bridge, no protocol");
        bench.Report.Add(Section, "akka-tcp-transfer, TLS, SHA-256 both ends", ours, "MiB/s", Range("ours") + "; sync-on-complete off, as the baselines");
        bench.Report.Add(Section, "akka-tcp-transfer, without TLS (--insecure), SHA-256 both ends", Stats.Median(results["ours-plain"]), "MiB/s", Range("ours-plain"));
        bench.Report.Add(Section, "akka-tcp-transfer, default settings (TLS, fsync)", Stats.Median(results["ours-fsync"]), "MiB/s", Range("ours-fsync") + "; fsync before the rename");
        bench.Report.Add(Section, "CPU used by sender + receiver, TLS", Stats.Median(cores), "cores", "of 2");
        bench.Report.Add(Section, "CPU used by sender + receiver, without TLS", Stats.Median(plainCores), "cores", "of 2");
        bench.Report.Add(Section, "ratio: TLS / without TLS", ours / Stats.Median(results["ours-plain"]), "x", "target >= 0.8");
        // Per process: what moving a GiB costs each end, and how often its threads were switched per 64 KiB chunk.
        var gib = size / (double)(1L << 30);
        var chunks = size / 65536.0;
        foreach (var (key, label) in new[] { ("tls", "TLS"), ("plain", "without TLS"), ("bound", "the bound with TLS") })
        {
            if (!Costs.TryGetValue(key, out var costs) || costs.Count == 0) continue;
            bench.Report.Add(Section, $"sender CPU per GiB, {label}", Stats.Median([.. costs.Select(c => c.SenderCpu / gib)]), "core-s/GiB", "target <= 1.5 (+0.6 with TLS)");
            bench.Report.Add(Section, $"receiver CPU per GiB, {label}", Stats.Median([.. costs.Select(c => c.ReceiverCpu / gib)]), "core-s/GiB", "target <= 1.7 (+0.6 with TLS)");
            bench.Report.Add(Section, $"context switches per 64 KiB chunk, sender / receiver, {label}", Stats.Median([.. costs.Select(c => c.SenderSwitches / chunks)]), "",
                $"receiver {Report.Format(Stats.Median([.. costs.Select(c => c.ReceiverSwitches / chunks)]))}");
        }
        if (Costs.TryGetValue("tls", out var product) && product.Count > 0 && Costs.TryGetValue("bound", out var bounds) && bounds.Count > 0)
        {
            bench.Report.Add(Section, "ratio: akka-tcp-transfer (TLS) / the bound with TLS", ours / Stats.Median(results["akka-tls"]), "x", "target >= 0.8");
            bench.Report.Add(Section, "sender CPU per GiB: akka-tcp-transfer / the bound with TLS",
                Stats.Median([.. product.Select(c => c.SenderCpu)]) / Stats.Median([.. bounds.Select(c => c.SenderCpu)]), "x", "target <= 1.25");
            bench.Report.Add(Section, "receiver CPU per GiB: akka-tcp-transfer / the bound with TLS",
                Stats.Median([.. product.Select(c => c.ReceiverCpu)]) / Stats.Median([.. bounds.Select(c => c.ReceiverCpu)]), "x", "target <= 1.25");
        }
        Costs.Clear();
        bench.Report.Add(Section, "ratio: akka-tcp-transfer / plain socket copy", ours / raw, "x", "target >= 0.6");
        if (nc is not null)
        {
            bench.Report.Add(Section, "ratio: akka-tcp-transfer / nc", ours / Stats.Median(results["nc"]), "x", "both without fsync");
            bench.Report.Add(Section, "ratio: akka-tcp-transfer default (TLS, fsync) / nc then fsync", Stats.Median(results["ours-fsync"]) / Stats.Median(results["nc-fsync"]), "x",
                "target >= 1.0, stretch 1.2");
        }
        else bench.Report.Add(Section, "ratio: akka-tcp-transfer / nc", double.NaN, "x", "nc not installed (apt-get install netcat-openbsd)");
        if (scp is not null) bench.Report.Add(Section, "ratio: akka-tcp-transfer (TLS) / scp", ours / Stats.Median(results["scp"]), "x", "target >= 1.5; both without fsync");
        else bench.Report.Add(Section, "ratio: akka-tcp-transfer (TLS) / scp", double.NaN, "x", $"no scp baseline: {scpMissing}");
        bench.Report.Add(Section, "ratio: akka-tcp-transfer / bare Akka.IO + SHA-256", ours / Stats.Median(results["akka-sha"]), "x", "how much of the bound we use");
    }

    private static async Task<double> RawSocket(Bench bench, string source, long size)
    {
        var output = Path.Combine(bench.Dir("raw"), "out.bin");
        await using var receiver = JsonEventProcess.Start(Bench.SelfAssembly, bench.WorkDir, Bench.LongWait, "raw-receive", "--out", output);
        var port = await receiver.Listening();
        await using var sender = JsonEventProcess.Start(Bench.SelfAssembly, bench.WorkDir, Bench.LongWait, "raw-send", "--port", Bench.I(port), "--file", source);
        var received = await receiver.WaitFor("received");
        if (received.GetProperty("bytes").GetInt64() != size) throw new InvalidOperationException("raw copy lost bytes");
        await sender.WaitForExit();
        return received.GetProperty("seconds").GetDouble();
    }

    /// <summary>nc into a file; then the time to fsync that file, for the same durability as ours.</summary>
    private static async Task<(double Seconds, double FsyncSeconds)> Netcat(Bench bench, string source, long size)
    {
        var output = Path.Combine(bench.Dir("nc"), "out.bin");
        var port = Bench.FreePort();
        using var receiver = Process.Start(new ProcessStartInfo("sh", ["-c", $"exec nc -l 127.0.0.1 {port} > '{output}' < /dev/null"]))!;
        // nc cannot say when it listens: connect attempts are retried by the sender below until one succeeds.
        var clock = Stopwatch.StartNew();
        for (var attempt = 0; ; attempt++)
        {
            using var sender = Process.Start(new ProcessStartInfo("sh", ["-c", $"exec nc -N 127.0.0.1 {port} < '{source}'"]) { RedirectStandardError = true })!;
            await sender.WaitForExitAsync();
            if (sender.ExitCode == 0) break;
            if (attempt > 200) throw new InvalidOperationException("nc receiver never listened");
            clock.Restart();
            await Task.Delay(10);
        }
        using var cts = new CancellationTokenSource(Bench.LongWait);
        await receiver.WaitForExitAsync(cts.Token);
        var seconds = clock.Elapsed.TotalSeconds;
        if (new FileInfo(output).Length != size) throw new InvalidOperationException("nc lost bytes");
        clock.Restart();
        using (var file = new FileStream(output, FileMode.Open, FileAccess.ReadWrite)) file.Flush(flushToDisk: true);
        return (seconds, clock.Elapsed.TotalSeconds);
    }

    private static async Task<double> BareAkka(Bench bench, long size, bool sha)
    {
        string[] hash = sha ? ["--sha"] : [];
        await using var receiver = JsonEventProcess.Start(Bench.SelfAssembly, bench.WorkDir, Bench.LongWait, ["akka-receive", "--bytes", Bench.I(size), .. hash]);
        var port = await receiver.Listening();
        await using var sender = JsonEventProcess.Start(Bench.SelfAssembly, bench.WorkDir, Bench.LongWait, ["akka-send", "--port", Bench.I(port), "--bytes", Bench.I(size), .. hash]);
        var received = await receiver.WaitFor("received");
        await Task.WhenAll(sender.WaitForExit(), receiver.WaitForExit());
        return received.GetProperty("seconds").GetDouble();
    }

    /// <summary>Fresh server and client processes; timed from the /send command to the receiver's
    /// transfer-completed (which means: written, size and SHA-256 compared, renamed into place).</summary>
    /// <summary>What each process spent on one transfer: CPU seconds and context switches (all its threads).</summary>
    private readonly record struct Cost(double SenderCpu, double ReceiverCpu, long SenderSwitches, long ReceiverSwitches);

    private static readonly Dictionary<string, List<Cost>> Costs = [];

    private static async Task<(double Seconds, double CpuSeconds)> Ours(Bench bench, string source, string sha, bool sync, bool tls = true)
    {
        var syncSetting = $"transfer.sync-on-complete={(sync ? "on" : "off")}";
        var (server, port) = await bench.StartServer(bench.Dir("server-downloads"), ["--set", syncSetting, .. tls ? Array.Empty<string>() : ["--insecure"]]);
        await using var _ = server;
        await using var client = await bench.StartClient(port, "sender", bench.Dir("client-downloads"), "--set", syncSetting);
        var (serverCpu0, clientCpu0) = (server.CpuTime() ?? TimeSpan.Zero, client.CpuTime() ?? TimeSpan.Zero);
        var (serverSwitches0, clientSwitches0) = (server.ContextSwitches() ?? 0, client.ContextSwitches() ?? 0);
        var clock = Stopwatch.StartNew();
        await client.SendLine($"/send \"{source}\"");
        var done = await server.WaitFor("transfer-completed");
        var seconds = clock.Elapsed.TotalSeconds;
        var receiverCpu = ((server.CpuTime() ?? TimeSpan.Zero) - serverCpu0).TotalSeconds;
        var senderCpu = ((client.CpuTime() ?? TimeSpan.Zero) - clientCpu0).TotalSeconds;
        var cpu = receiverCpu + senderCpu;
        var key = $"{(tls ? "tls" : "plain")}{(sync ? "-fsync" : "")}";
        (Costs.TryGetValue(key, out var list) ? list : Costs[key] = []).Add(new Cost(senderCpu, receiverCpu,
            (client.ContextSwitches() ?? 0) - clientSwitches0, (server.ContextSwitches() ?? 0) - serverSwitches0));
        if (done.GetProperty("sha256").GetString() != sha) throw new InvalidOperationException("SHA-256 mismatch");
        File.Delete(done.GetProperty("path").GetString()!);
        await client.SendLine("/quit");
        await server.SendLine("/quit");
        await Task.WhenAll(client.WaitForExit(), server.WaitForExit());
        return (seconds, cpu);
    }

    /// <summary>The bound with TLS (<see cref="TlsBound"/>): the same file, read, hashed, encrypted, decrypted, hashed and
    /// written by two fresh processes; each reports its own CPU and context switches from the handshake's end.</summary>
    private static async Task<(double Seconds, Cost Cost)> TlsBoundRun(Bench bench, string source, long size, string sha)
    {
        var output = Path.Combine(bench.Dir("tls-bound"), "received.bin");
        await using var receiver = JsonEventProcess.Start(Bench.SelfAssembly, bench.WorkDir, Bench.LongWait, ["tls-receive", "--out", output, "--bytes", Bench.I(size)]);
        var listening = await receiver.WaitFor("listening");
        await using var sender = JsonEventProcess.Start(Bench.SelfAssembly, bench.WorkDir, Bench.LongWait,
            ["tls-send", "--port", Bench.I(Port(listening)), "--file", source, "--fingerprint", listening.GetProperty("fingerprint").GetString()!]);
        var sent = await sender.WaitFor("sent");
        var received = await receiver.WaitFor("received");
        await Task.WhenAll(sender.WaitForExit(), receiver.WaitForExit());
        if (received.GetProperty("sha256").GetString() != sha || sent.GetProperty("sha256").GetString() != sha)
            throw new InvalidOperationException("the bound with TLS: SHA-256 mismatch");
        File.Delete(output);
        return (received.GetProperty("seconds").GetDouble(), new Cost(sent.GetProperty("cpu").GetDouble(), received.GetProperty("cpu").GetDouble(),
            sent.GetProperty("switches").GetInt64(), received.GetProperty("switches").GetInt64()));
    }

    internal static int Port(JsonElement e) => e.GetProperty("port").GetInt32();
}
