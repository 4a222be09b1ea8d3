using System.Diagnostics;
using System.Text.Json;

namespace AkkaTcpTransfer.Cli.Tests;

/// <summary>docs/PROTOCOL.md is a contract for strangers: a client written in Python from that document alone
/// (tests/thirdparty, standard library only) runs its scenarios against the real server program: handshake and
/// refusals, chat and presence, uploads, relays received strictly (size and SHA-256 compared the moment Done arrives),
/// duplicate ids, hostile names, flow-control violations, resume, rate limits, timeouts.</summary>
public sealed class ThirdPartyClientTests
{
    private static string Repository()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "tests", "thirdparty", "scenarios.py"))) return dir.FullName;
        }
        throw new DirectoryNotFoundException("tests/thirdparty not found above " + AppContext.BaseDirectory);
    }

    private static string? Python() =>
        (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':').Select(d => Path.Combine(d, "python3")).FirstOrDefault(File.Exists);

    [SkippableFact]
    public async Task A_client_written_from_the_protocol_document_alone_passes_every_scenario()
    {
        var python = Python();
        Skip.If(python is null, "python3 is not installed: the third-party client is written in Python");
        var work = Directory.CreateTempSubdirectory("att-thirdparty-").FullName;
        try
        {
            await using var server = CliProcess.Start("server", "--port", "0", "--json", "--downloads", Path.Combine(work, "downloads"),
                "--state-dir", Path.Combine(work, "state"));
            var port = await server.Listening();
            var info = new ProcessStartInfo(python!)
            {
                RedirectStandardOutput = true,
                RedirectStandardError = true,
                WorkingDirectory = work,
            };
            // Over TLS, pinning the key the server printed (tests/thirdparty/run_local.py runs them in the clear too).
            foreach (var a in new[] { Path.Combine(Repository(), "tests", "thirdparty", "scenarios.py"), "127.0.0.1", port.ToString(System.Globalization.CultureInfo.InvariantCulture), server.Fingerprint! })
                info.ArgumentList.Add(a);
            using var run = Process.Start(info)!;
            var stdout = run.StandardOutput.ReadToEndAsync();
            var stderr = run.StandardError.ReadToEndAsync();
            await run.WaitForExitAsync().WaitAsync(TimeSpan.FromMinutes(3));
            var lines = (await stdout).Split('\n', StringSplitOptions.RemoveEmptyEntries);
            var failed = lines.Where(l => l.Contains("\"ok\": false", StringComparison.Ordinal)).ToList();
            Assert.True(run.ExitCode == 0 && failed.Count == 0,
                $"exit {run.ExitCode}; failed:\n{string.Join('\n', failed)}\n{await stderr}\nserver stderr:\n{server.Stderr}");
            using var summary = JsonDocument.Parse(lines[^1]);
            Assert.True(summary.RootElement.GetProperty("summary").GetProperty("passed").GetInt32() >= 54);
        }
        finally
        {
            Directory.Delete(work, recursive: true);
        }
    }
}
