using System.CommandLine;
using System.CommandLine.Invocation;
using System.Globalization;
using System.Runtime.InteropServices;

namespace AkkaTcpTransfer.Benchmarks;

/// <summary>akka-tcp-transfer-bench: measures the real programs over 127.0.0.1 and prints every figure beside a
/// baseline measured in the same run. `--smoke` runs everything tiny (seconds), as CI does.</summary>
internal static class Program
{
    public static async Task<int> Main(string[] args)
    {
        var scenarios = new Argument<string[]>("scenario") { Description = "all (default), throughput, stages, memory, latency, fanout, tls, connections, floods, readers, descriptors, fuzz, smallfiles, cluster, relay (the cluster's chat and relay only), history, spool (one upload to many), web (the browser client)", Arity = ArgumentArity.ZeroOrMore };
        var size = new Option<string>("--size") { Description = "file size for throughput (default 2g)", DefaultValueFactory = _ => "2g" };
        var runs = new Option<int>("--runs") { Description = "runs per throughput variant; the median is reported (default 3)", DefaultValueFactory = _ => 3 };
        var memorySmall = new Option<string>("--memory-small") { Description = "small file for the memory comparison (default 256m)", DefaultValueFactory = _ => "256m" };
        var memoryLarge = new Option<string>("--memory-large") { Description = "large file for the memory comparison (default 4g)", DefaultValueFactory = _ => "4g" };
        var clients = new Option<int>("--clients") { Description = "clients for latency and fan-out (default 50)", DefaultValueFactory = _ => 50 };
        var messages = new Option<int>("--messages") { Description = "messages per latency run and per fan-out (default 1000)", DefaultValueFactory = _ => 1000 };
        var connections = new Option<int[]>("--connections") { Description = "client counts for the connections scenario (default 2000 and, if the open-file limit allows, 10000)" };
        var dir = new Option<string>("--dir") { Description = "work folder for files (default: a new folder in the system temp folder; removed afterwards)" };
        var json = new Option<bool>("--json") { Description = "print the results as one JSON object instead of tables" };
        var smoke = new Option<bool>("--smoke") { Description = "tiny sizes and counts: proves every scenario works, measures nothing" };
        var sets = new Option<string[]>("--set") { Description = "a setting for every node started, key=value as for akka-tcp-transfer (repeatable)" };
        var floodSeconds = new Option<int>("--flood-seconds") { Description = "how long each flood runs (default 10)", DefaultValueFactory = _ => 10 };
        var fuzzFrames = new Option<long>("--fuzz-frames") { Description = "mutated frames the fuzzer sends (default 1000000)", DefaultValueFactory = _ => 1_000_000 };
        var fuzzConnections = new Option<int>("--fuzz-connections") { Description = "fuzzer connections at a time (default 50)", DefaultValueFactory = _ => 50 };
        var historyLines = new Option<long>("--history-lines") { Description = "lines the history scenario stores through the server (default 1000000)", DefaultValueFactory = _ => 1_000_000 };
        var root = new RootCommand("akka-tcp-transfer-bench: throughput, memory, latency, fan-out, connections and attacks, beside baselines from the same run")
            { scenarios, size, runs, memorySmall, memoryLarge, clients, messages, connections, dir, json, smoke, sets, floodSeconds, fuzzFrames, fuzzConnections, historyLines };

        var output = new Option<string>("--out") { Required = true };
        var port = new Option<int>("--port") { Required = true };
        var file = new Option<string>("--file") { Required = true };
        var rawReceive = new Command("raw-receive", "(helper) baseline receiver") { output };
        rawReceive.SetAction(r => RawCopy.Receive(r.GetValue(output)!));
        var rawSend = new Command("raw-send", "(helper) baseline sender") { port, file };
        rawSend.SetAction(r => RawCopy.Send(r.GetValue(port), r.GetValue(file)!));
        root.Subcommands.Add(rawReceive);
        root.Subcommands.Add(rawSend);
        var bytes = new Option<long>("--bytes") { Required = true };
        var hashing = new Option<bool>("--sha");
        var akkaReceive = new Command("akka-receive", "(helper) bare Akka.IO receiver") { bytes, hashing };
        akkaReceive.SetAction((r, _) => AkkaIoBound.Receive(r.GetValue(bytes), r.GetValue(hashing)));
        var akkaSend = new Command("akka-send", "(helper) bare Akka.IO sender") { port, bytes, hashing };
        akkaSend.SetAction((r, _) => AkkaIoBound.Send(r.GetValue(port), r.GetValue(bytes), r.GetValue(hashing)));
        root.Subcommands.Add(akkaReceive);
        root.Subcommands.Add(akkaSend);
        var tlsReceive = new Command("tls-receive", "(helper) bound with TLS: receiver") { output, bytes };
        tlsReceive.SetAction((r, _) => TlsBound.Receive(r.GetValue(output)!, r.GetValue(bytes)));
        var pin = new Option<string>("--fingerprint") { Required = true };
        var tlsSend = new Command("tls-send", "(helper) bound with TLS: sender") { port, file, pin };
        tlsSend.SetAction((r, _) => TlsBound.Send(r.GetValue(port), r.GetValue(file)!, r.GetValue(pin)!));
        root.Subcommands.Add(tlsReceive);
        root.Subcommands.Add(tlsSend);
        var kind = new Option<string>("--kind") { Required = true };
        var seconds = new Option<int>("--seconds") { Required = true };
        var fingerprint = new Option<string>("--fingerprint") { Description = "the server's key fingerprint (TLS); none: plaintext" };
        var flooder = new Command("flooder", "(helper) floods a server: chat, who or offers") { port, kind, seconds, fingerprint };
        flooder.SetAction((r, _) =>
        {
            WireClient.Trust(r.GetValue(port), r.GetValue(fingerprint));
            return AttackBenchmarks.FloodProcess(r.GetValue(port), r.GetValue(kind)!, r.GetValue(seconds));
        });
        root.Subcommands.Add(flooder);

        root.SetAction(async (r, _) =>
        {
            var isSmoke = r.GetValue(smoke);
            var chosen = r.GetValue(scenarios) is { Length: > 0 } s ? s : ["all"];
            bool Wants(string name) => chosen.Contains("all") || chosen.Contains(name);
            var work = r.GetValue(dir) ?? Path.Combine(Path.GetTempPath(), $"akka-tcp-transfer-bench-{Environment.ProcessId}");
            var ownsWork = r.GetValue(dir) is null;
            Directory.CreateDirectory(work);
            var report = new Report();
            var overrides = (r.GetValue(sets) ?? []).Select(kv => kv.Split('=', 2)).Select(kv => (kv[0], kv.Length > 1 ? kv[1] : "")).ToList();
            var bench = new Bench(work, report, isSmoke, overrides);
            if (overrides.Count > 0) report.Facts["settings"] = string.Join(", ", overrides.Select(o => $"{o.Item1}={o.Item2}"));
            var fileLimit = Bench.RaiseOpenFileLimit();
            report.Facts["date"] = DateTime.UtcNow.ToString("yyyy-MM-dd HH:mm 'UTC'", CultureInfo.InvariantCulture);
            report.Facts["machine"] = $"{Environment.ProcessorCount} cores, {RuntimeInformation.OSDescription}, .NET {Environment.Version}, open-file limit {fileLimit}";
            report.Facts["mode"] = isSmoke ? "smoke (tiny sizes: proves the scenarios run; the figures mean nothing)" : "full";
            try
            {
                if (Wants("throughput"))
                    await ThroughputBenchmark.Run(bench, isSmoke ? 16L << 20 : ParseSize(r.GetValue(size)!), isSmoke ? 1 : r.GetValue(runs));
                if (Wants("stages"))
                    await StagesBenchmark.Run(bench, isSmoke ? 16L << 20 : 1L << 30);
                if (Wants("memory"))
                    await MemoryBenchmark.Run(bench, isSmoke ? 4L << 20 : ParseSize(r.GetValue(memorySmall)!), isSmoke ? 16L << 20 : ParseSize(r.GetValue(memoryLarge)!));
                if (Wants("latency"))
                    await ChatBenchmarks.RunLatency(bench, isSmoke ? 3 : r.GetValue(clients), isSmoke ? 20 : r.GetValue(messages), isSmoke ? 8L << 20 : 1L << 30);
                if (Wants("fanout"))
                    await ChatBenchmarks.RunFanout(bench, isSmoke ? 3 : r.GetValue(clients), isSmoke ? 20 : r.GetValue(messages));
                if (Wants("tls"))
                    await TlsBenchmark.Run(bench, isSmoke ? 20 : 1000, isSmoke ? 50 : 1000);
                if (Wants("connections"))
                {
                    var counts = isSmoke ? [20] : r.GetValue(connections) is { Length: > 0 } c ? c : fileLimit >= 10_000 + 512 ? [2000, 10_000] : [2000];
                    await ConnectionsBenchmark.Run(bench, counts[0], tls: false);
                    foreach (var count in counts) await ConnectionsBenchmark.Run(bench, count);
                }
                if (Wants("smallfiles"))
                    await SmallFilesBenchmark.Run(bench, isSmoke ? [(40, 4096, 0.5), (4, 65536, 0.9)] : [(10_000, 4096, 0.5), (1_000, 1 << 20, 0.9)],
                        isSmoke ? 1 : r.GetValue(runs));
                if (Wants("cluster"))
                    await ClusterBenchmark.Run(bench, isSmoke ? 20 : r.GetValue(messages), isSmoke ? 8L << 20 : 1L << 30, isSmoke ? 1 : r.GetValue(runs),
                        isSmoke ? 10 : 3000, isSmoke ? 2 : 10);
                else if (chosen.Contains("relay"))
                    await ClusterBenchmark.Run(bench, isSmoke ? 20 : r.GetValue(messages), isSmoke ? 8L << 20 : 1L << 30, isSmoke ? 1 : r.GetValue(runs),
                        0, 0, relayOnly: true);
                if (Wants("spool"))
                    await SpoolBenchmark.Run(bench, isSmoke ? 8L << 20 : 1L << 30, isSmoke ? 1 : r.GetValue(runs));
                if (Wants("web"))
                    await WebBenchmark.Run(bench, isSmoke ? 4L << 20 : 200L << 20, isSmoke ? 1 : r.GetValue(runs));
                if (Wants("history"))
                    await HistoryBenchmark.Run(bench, isSmoke ? HistoryScale.Smoke : HistoryScale.Full(r.GetValue(messages), r.GetValue(historyLines)));
                if (Wants("floods"))
                    await AttackBenchmarks.RunFloods(bench, isSmoke ? 3 : r.GetValue(clients), TimeSpan.FromSeconds(isSmoke ? 1 : r.GetValue(floodSeconds)));
                if (Wants("readers"))
                    await AttackBenchmarks.RunSlowReaders(bench, isSmoke ? 5 : 60, isSmoke ? 2 : 5, TimeSpan.FromSeconds(isSmoke ? 3 : 40));
                if (Wants("descriptors"))
                    await AttackBenchmarks.RunDescriptors(bench, isSmoke ? 256 : 1024, isSmoke ? 300 : 1100);
                if (Wants("fuzz"))
                    await AttackBenchmarks.RunFuzz(bench, isSmoke ? 20_000 : r.GetValue(fuzzFrames), isSmoke ? 8 : r.GetValue(fuzzConnections));
            }
            finally
            {
                if (ownsWork) Directory.Delete(work, recursive: true);
            }
            if (r.GetValue(json)) report.WriteJson(Console.Out);
            else report.WriteTable(Console.Out);
            return 0;
        });

        var parsed = root.Parse(args);
        if (parsed.Errors.Count > 0)
        {
            await Console.Error.WriteLineAsync($"akka-tcp-transfer-bench: {parsed.Errors[0].Message}");
            return 2;
        }
        return await parsed.InvokeAsync(new InvocationConfiguration { ProcessTerminationTimeout = null });
    }

    private static long ParseSize(string text)
    {
        text = text.Trim().ToLowerInvariant();
        var multiplier = text[^1] switch { 'k' => 1L << 10, 'm' => 1L << 20, 'g' => 1L << 30, _ => 1L };
        var number = multiplier == 1 ? text : text[..^1];
        return (long)(double.Parse(number, CultureInfo.InvariantCulture) * multiplier);
    }
}
