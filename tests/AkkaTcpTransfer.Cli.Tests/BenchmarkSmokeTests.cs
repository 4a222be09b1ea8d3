using System.Text.Json;
using AkkaTcpTransfer.Benchmarks;

namespace AkkaTcpTransfer.Cli.Tests;

/// <summary>CI runs the benchmark program only as a smoke run (tiny sizes, seconds): it proves every scenario still
/// works end to end. It asserts no performance figure; performance is measured by the full run, not by tests.</summary>
public sealed class BenchmarkSmokeTests
{
    [Fact]
    public async Task The_benchmark_runs_every_scenario_and_reports_every_section()
    {
        var bench = JsonEventProcess.AssemblyFromMetadata(typeof(BenchmarkSmokeTests).Assembly, "BenchAssembly");
        // A bound, not a measure: thirteen sections on two shared cores, and more where nc and an sshd are installed (their
        // baselines then run too: 4 minutes were not enough on such a machine).
        await using var run = JsonEventProcess.Start(bench, null, TimeSpan.FromMinutes(8), "--smoke", "--json");
        var exit = await run.WaitForExit();
        Assert.True(exit == 0, $"exit {exit}\n{run.Stderr}");
        using var doc = JsonDocument.Parse(Assert.Single(run.StdoutLines));
        var results = doc.RootElement.GetProperty("results").EnumerateArray().ToList();
        var sections = results.Select(r => r.GetProperty("section").GetString()!).Distinct().ToList();
        Assert.Equal(13, sections.Count);
        // Kept files: one upload reached five recipients, and content kept already was proved, not sent again.
        Assert.Contains(results, r => r.GetProperty("name").GetString() == "to 5 at once: every recipient has it" && r.GetProperty("value").GetDouble() > 0);
        Assert.Contains(results, r => r.GetProperty("name").GetString()!.StartsWith("the same content again", StringComparison.Ordinal)
            && r.GetProperty("value").GetDouble() > 0);
        // Several servers: the cross-node relay delivered, and the killed node's clients came back.
        Assert.Contains(results, r => r.GetProperty("name").GetString() == "ratio: across nodes / same node" && r.GetProperty("value").GetDouble() > 0);
        Assert.Contains(results, r => r.GetProperty("name").GetString()!.StartsWith("node killed (SIGKILL)", StringComparison.Ordinal)
            && r.GetProperty("value").GetDouble() > 0);
        Assert.Contains(results, r => r.GetProperty("name").GetString()!.StartsWith("ratio: akka-tcp-transfer / plain socket copy", StringComparison.Ordinal)
            && r.GetProperty("value").GetDouble() > 0);
        Assert.Contains(results, r => r.GetProperty("name").GetString()!.Contains("one broadcast reaches all", StringComparison.Ordinal));
        // TLS: measured beside plaintext, and a crowd arriving at once all got in.
        Assert.Contains(results, r => r.GetProperty("name").GetString() == "ratio: TLS / without TLS" && r.GetProperty("value").GetDouble() > 0);
        // The attacks: the server lived through each, and nothing crashed it.
        double Value(string name) => results.Single(r => r.GetProperty("name").GetString() == name).GetProperty("value").GetDouble();
        Assert.Equal(1, Value("300 silent connections at a 256-descriptor limit: server alive"));
        Assert.Equal(1, Value("300 silent connections at a 256-descriptor limit: a client during the attack"));
        Assert.Equal(50, Value("300 silent connections at a 256-descriptor limit: clients in after they left"));
        Assert.Equal(0, Value("fuzz: server crashes"));
        Assert.Equal(0, Value("chat flood: well-behaved clients dropped"));
        Assert.Equal(50, Value("50 clients connecting at once: joined"));
        Assert.True(Value("TLS 1.3 handshake alone, p99") > 0);
        // A folder of many small files landed whole (the section measures only once every file is in).
        Assert.True(Value("akka-tcp-transfer, 40 files of 4 KiB") > 0);
        // The stage budget: every stage measured, and compared with what section 1's processes spent.
        Assert.True(Value("sender budget: read + SHA-256 + frame + seal + hand-offs") > 0);
        Assert.True(Value("receiver: measured in section 1 / budget") > 0);
        // Rooms and history: lines went through the database, and a round trip was set beside one without it.
        Assert.True(Value("lines journaled per second, sustained") > 0);
        Assert.True(Value("ratio: room line p99, database / in-memory journal, idle") > 0);
    }
}
