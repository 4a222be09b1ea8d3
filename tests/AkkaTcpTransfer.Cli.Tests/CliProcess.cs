using System.Diagnostics;
using System.Reflection;
using System.Runtime.InteropServices;
using System.Text;
using System.Text.Json;

namespace AkkaTcpTransfer.Cli.Tests;

/// <summary>The real akka-tcp-transfer program as a child process: write its stdin, await JSON events from its stdout
/// (every line must be a JSON object with an "event" field), read its stderr and exit code. Every wait times out.</summary>
public sealed partial class CliProcess : IAsyncDisposable
{
    public static readonly TimeSpan Timeout = TimeSpan.FromSeconds(20);

    public static string Assembly { get; } = Path.GetFullPath(typeof(CliProcess).Assembly
        .GetCustomAttributes<AssemblyMetadataAttribute>().Single(a => a.Key == "CliAssembly").Value!.Replace('\\', '/'));

    private readonly Process _process;
    private readonly object _gate = new();
    private readonly List<JsonElement> _events = [];
    private readonly List<string> _stdout = [];
    private readonly StringBuilder _stderr = new();
    private readonly List<(Func<JsonElement, bool> Match, int From, TaskCompletionSource<JsonElement> Done)> _waiters = [];
    private readonly TaskCompletionSource _stdoutClosed = new(TaskCreationOptions.RunContinuationsAsynchronously);

    private CliProcess(Process process) => _process = process;

    public static CliProcess Start(params string[] args) => StartIn(null, args);

    public static CliProcess StartIn(string? workingDirectory, params string[] args)
    {
        var info = new ProcessStartInfo("dotnet")
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            StandardOutputEncoding = Encoding.UTF8,
            StandardErrorEncoding = Encoding.UTF8,
            StandardInputEncoding = new UTF8Encoding(false),
            WorkingDirectory = workingDirectory ?? Path.GetTempPath(),
        };
        info.ArgumentList.Add(Assembly);
        foreach (var a in args) info.ArgumentList.Add(a);
        var process = new Process { StartInfo = info };
        var cli = new CliProcess(process);
        process.OutputDataReceived += (_, e) => cli.OnStdout(e.Data);
        process.ErrorDataReceived += (_, e) =>
        {
            if (e.Data is null) return;
            lock (cli._gate) cli._stderr.AppendLine(e.Data);
        };
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return cli;
    }

    public string Stderr
    {
        get { lock (_gate) return _stderr.ToString(); }
    }

    public IReadOnlyList<string> StdoutLines
    {
        get { lock (_gate) return [.. _stdout]; }
    }

    public int Mark()
    {
        lock (_gate) return _events.Count;
    }

    private void OnStdout(string? line)
    {
        if (line is null)
        {
            _stdoutClosed.TrySetResult();
            return;
        }
        lock (_gate)
        {
            _stdout.Add(line);
            JsonElement e;
            try
            {
                e = JsonDocument.Parse(line).RootElement.Clone();
            }
            catch (JsonException)
            {
                return; // non-JSON output is reported by AssertStdoutIsOnlyJsonEvents
            }
            _events.Add(e);
            var index = _events.Count - 1;
            for (var i = _waiters.Count - 1; i >= 0; i--)
            {
                if (index >= _waiters[i].From && _waiters[i].Match(e))
                {
                    _waiters[i].Done.TrySetResult(e);
                    _waiters.RemoveAt(i);
                }
            }
        }
    }

    public static bool Is(JsonElement e, string name) => e.TryGetProperty("event", out var v) && v.GetString() == name;

    /// <summary>The first event named <paramref name="name"/> (at or after <paramref name="after"/>) that matches.</summary>
    public async Task<JsonElement> WaitFor(string name, Func<JsonElement, bool>? match = null, int after = 0)
    {
        bool Matches(JsonElement e) => Is(e, name) && (match?.Invoke(e) ?? true);
        TaskCompletionSource<JsonElement> done;
        lock (_gate)
        {
            for (var i = after; i < _events.Count; i++)
            {
                if (Matches(_events[i])) return _events[i];
            }
            done = new(TaskCreationOptions.RunContinuationsAsynchronously);
            _waiters.Add((Matches, after, done));
        }
        if (await Task.WhenAny(done.Task, Task.Delay(Timeout)) != done.Task)
            throw new TimeoutException($"no '{name}' event within {Timeout.TotalSeconds} s.\nstdout:\n{string.Join("\n", StdoutLines)}\nstderr:\n{Stderr}");
        return await done.Task;
    }

    public async Task<int> Listening() => (await WaitFor("listening")).GetProperty("port").GetInt32();

    public async Task SendLine(string line)
    {
        await _process.StandardInput.WriteLineAsync(line);
        await _process.StandardInput.FlushAsync();
    }

    public void CloseStdin() => _process.StandardInput.Close();

    public async Task<int> WaitForExit()
    {
        using var cts = new CancellationTokenSource(Timeout);
        try
        {
            await _process.WaitForExitAsync(cts.Token);
        }
        catch (OperationCanceledException)
        {
            throw new TimeoutException($"process did not exit within {Timeout.TotalSeconds} s.\nstdout:\n{string.Join("\n", StdoutLines)}\nstderr:\n{Stderr}");
        }
        await Task.WhenAny(_stdoutClosed.Task, Task.Delay(Timeout));
        return _process.ExitCode;
    }

    public void Signal(int signal)
    {
        if (Kill(_process.Id, signal) != 0) throw new InvalidOperationException($"kill({_process.Id}, {signal}) failed");
    }

    public const int SIGINT = 2;
    public const int SIGTERM = 15;

    [LibraryImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static partial int Kill(int pid, int signal);

    public void AssertStdoutIsOnlyJsonEvents()
    {
        foreach (var line in StdoutLines)
        {
            using var doc = JsonDocument.Parse(line);
            Assert.True(doc.RootElement.TryGetProperty("event", out _), $"stdout line without an event field: {line}");
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
            await _process.WaitForExitAsync();
        }
        _process.Dispose();
    }
}
