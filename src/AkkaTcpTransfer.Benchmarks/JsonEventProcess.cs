using System.Diagnostics;
using System.Globalization;
using System.Reflection;
using System.Runtime.InteropServices;
using System.Text;
using System.Text.Json;

namespace AkkaTcpTransfer.Benchmarks;

/// <summary>A .NET program (the akka-tcp-transfer CLI, or this benchmark in a helper role) as a child process: write
/// its stdin, await JSON events from its stdout (one object per line with an "event" field), read its stderr, exit
/// code and peak memory. Every wait times out. Shared by the benchmark and the CLI tests.</summary>
public sealed partial class JsonEventProcess : IAsyncDisposable
{
    public TimeSpan Timeout { get; init; } = TimeSpan.FromSeconds(20);

    /// <summary>The path of an assembly recorded at build time in an AssemblyMetadata attribute of
    /// <paramref name="carrier"/> (so a test or the benchmark finds the CLI it was built with).</summary>
    public static string AssemblyFromMetadata(Assembly carrier, string key) => Path.GetFullPath(carrier
        .GetCustomAttributes<AssemblyMetadataAttribute>().Single(a => a.Key == key).Value!.Replace('\\', '/'));

    private readonly Process _process;
    private readonly object _gate = new();
    private readonly List<JsonElement> _events = [];
    private readonly List<string> _stdout = [];
    private readonly StringBuilder _stderr = new();
    private readonly List<(Func<JsonElement, bool> Match, int From, TaskCompletionSource<JsonElement> Done)> _waiters = [];
    private readonly List<(string Name, Action<JsonElement> Handler)> _subscribers = [];
    private readonly TaskCompletionSource _stdoutClosed = new(TaskCreationOptions.RunContinuationsAsynchronously);

    private JsonEventProcess(Process process) => _process = process;

    public int Id => _process.Id;

    /// <summary>The per-user data folder every child process gets ($XDG_DATA_HOME), so that what the programs keep
    /// between runs (resume keys, identities) lands in a temporary folder, never in the home folder of whoever runs
    /// the tests or the benchmark. One per run of this process: a restarted child finds its own state again.</summary>
    public static string DataHome { get; } = Directory.CreateTempSubdirectory("att-data-home-").FullName;

    /// <summary>Starts <c>dotnet <paramref name="assembly"/> <paramref name="args"/></c>.</summary>
    public static JsonEventProcess Start(string assembly, string? workingDirectory, TimeSpan timeout, params string[] args) =>
        Start(assembly, workingDirectory, timeout, openFileLimit: null, environment: null, args);

    /// <summary>As <see cref="Start(string, string?, TimeSpan, string[])"/>, with the process's open-file limit (soft and
    /// hard) set to <paramref name="openFileLimit"/> first, through the shell's ulimit, as an operator would, and
    /// <paramref name="environment"/> added to the process's environment.</summary>
    public static JsonEventProcess Start(string assembly, string? workingDirectory, TimeSpan timeout, int? openFileLimit,
        IReadOnlyDictionary<string, string>? environment, params string[] args)
    {
        var info = new ProcessStartInfo(openFileLimit is null ? "dotnet" : "/bin/sh")
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            StandardOutputEncoding = Encoding.UTF8,
            StandardErrorEncoding = Encoding.UTF8,
            StandardInputEncoding = new UTF8Encoding(false),
            WorkingDirectory = workingDirectory ?? Path.GetTempPath(),
        };
        info.Environment["XDG_DATA_HOME"] = DataHome;
        foreach (var (key, value) in environment ?? new Dictionary<string, string>()) info.Environment[key] = value;
        if (openFileLimit is { } limit)
        {
            foreach (var a in new[] { "-c", $"ulimit -n {limit.ToString(CultureInfo.InvariantCulture)} && exec dotnet \"$@\"", "sh" }) info.ArgumentList.Add(a);
        }
        info.ArgumentList.Add(assembly);
        foreach (var a in args) info.ArgumentList.Add(a);
        var process = new Process { StartInfo = info };
        var cli = new JsonEventProcess(process) { Timeout = timeout };
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

    /// <summary>Every event read so far, in order.</summary>
    public IReadOnlyList<JsonElement> Events()
    {
        lock (_gate) return [.. _events];
    }

    public int Mark()
    {
        lock (_gate) return _events.Count;
    }

    private readonly List<(Func<string, bool> Match, TaskCompletionSource<string> Done)> _lineWaiters = [];

    /// <summary>The first line of stdout (events or not) that matches, already written or still to come.</summary>
    public async Task<string> WaitForLine(Func<string, bool> match)
    {
        TaskCompletionSource<string> done;
        lock (_gate)
        {
            if (_stdout.FirstOrDefault(match) is { } seen) return seen;
            done = new(TaskCreationOptions.RunContinuationsAsynchronously);
            _lineWaiters.Add((match, done));
        }
        if (await Task.WhenAny(done.Task, Task.Delay(Timeout)) != done.Task)
            throw new TimeoutException($"no matching line within {Timeout.TotalSeconds} s.\nstdout:\n{string.Join("\n", StdoutLines)}\nstderr:\n{Stderr}");
        return await done.Task;
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
            for (var i = _lineWaiters.Count - 1; i >= 0; i--)
            {
                if (!_lineWaiters[i].Match(line)) continue;
                _lineWaiters[i].Done.TrySetResult(line);
                _lineWaiters.RemoveAt(i);
            }
            JsonElement e;
            try
            {
                e = JsonDocument.Parse(line).RootElement.Clone();
            }
            catch (JsonException)
            {
                return; // non-JSON output is reported by NonEventLines
            }
            _events.Add(e);
            foreach (var (name, handler) in _subscribers)
            {
                if (Is(e, name)) handler(e);
            }
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

    /// <summary>Calls <paramref name="handler"/> for every later event named <paramref name="name"/> (on the reader
    /// thread, in order). Dispose the result to stop.</summary>
    public IDisposable Subscribe(string name, Action<JsonElement> handler)
    {
        var entry = (name, handler);
        lock (_gate) _subscribers.Add(entry);
        return new Unsubscribe(() =>
        {
            lock (_gate) _subscribers.Remove(entry);
        });
    }

    private sealed class Unsubscribe(Action action) : IDisposable
    {
        public void Dispose() => action();
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

    /// <summary>Waits for a server's <c>listening</c> event: its real port (and <see cref="Fingerprint"/>, with TLS).</summary>
    public async Task<int> Listening()
    {
        var listening = await WaitFor("listening");
        Fingerprint = listening.TryGetProperty("fingerprint", out var f) ? f.GetString() : null;
        return listening.GetProperty("port").GetInt32();
    }

    /// <summary>A server's key fingerprint from its <c>listening</c> event (null before it, or without TLS).</summary>
    public string? Fingerprint { get; private set; }

    /// <summary>The arguments that make a client trust this server: its fingerprint, as its operator would give it.</summary>
    public string[] TrustArgs() => Fingerprint is { } f ? ["--fingerprint", f] : ["--insecure"];

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

    /// <summary>Lines of stdout that are not a JSON object with an "event" field (there should be none).</summary>
    public IReadOnlyList<string> NonEventLines()
    {
        var bad = new List<string>();
        foreach (var line in StdoutLines)
        {
            try
            {
                using var doc = JsonDocument.Parse(line);
                if (doc.RootElement.ValueKind != JsonValueKind.Object || !doc.RootElement.TryGetProperty("event", out _)) bad.Add(line);
            }
            catch (JsonException)
            {
                bad.Add(line);
            }
        }
        return bad;
    }

    /// <summary>The process's peak resident memory (VmHWM) in bytes, from /proc; null where there is no /proc.</summary>
    public long? PeakResidentBytes()
    {
        try
        {
            var line = File.ReadLines($"/proc/{_process.Id}/status").FirstOrDefault(l => l.StartsWith("VmHWM:", StringComparison.Ordinal));
            if (line is null) return null;
            var kb = long.Parse(line["VmHWM:".Length..].Trim().Split(' ')[0], CultureInfo.InvariantCulture);
            return kb * 1024;
        }
        catch (IOException)
        {
            return null;
        }
    }

    /// <summary>Starts the peak (<see cref="PeakResidentBytes"/>) over from the memory resident now (Linux: "5" to
    /// /proc/PID/clear_refs), so that a phase's peak can be read on its own; false where that cannot be done.</summary>
    public bool ResetPeak()
    {
        try
        {
            File.WriteAllText($"/proc/{_process.Id}/clear_refs", "5");
            return true;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return false;
        }
    }

    /// <summary>The process's resident memory now (VmRSS) in bytes, from /proc; null where there is no /proc.</summary>
    public long? ResidentBytes()
    {
        try
        {
            var line = File.ReadLines($"/proc/{_process.Id}/status").FirstOrDefault(l => l.StartsWith("VmRSS:", StringComparison.Ordinal));
            return line is null ? null : long.Parse(line["VmRSS:".Length..].Trim().Split(' ')[0], CultureInfo.InvariantCulture) * 1024;
        }
        catch (IOException)
        {
            return null;
        }
    }

    /// <summary>Context switches so far (voluntary + involuntary) of the process's live threads, from /proc; null where
    /// there is none.</summary>
    public long? ContextSwitches()
    {
        try
        {
            long total = 0;
            foreach (var task in Directory.EnumerateDirectories($"/proc/{_process.Id}/task"))
            {
                try
                {
                    foreach (var line in File.ReadLines(Path.Combine(task, "status")))
                    {
                        if (line.StartsWith("voluntary_ctxt_switches:", StringComparison.Ordinal) || line.StartsWith("nonvoluntary_ctxt_switches:", StringComparison.Ordinal))
                            total += long.Parse(line[(line.IndexOf(':', StringComparison.Ordinal) + 1)..].Trim(), CultureInfo.InvariantCulture);
                    }
                }
                catch (IOException)
                {
                    // the thread ended meanwhile
                }
            }
            return total;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }

    public bool HasExited => _process.HasExited;

    /// <summary>CPU time (user + system) the process has used so far, from /proc; null where there is no /proc.</summary>
    public TimeSpan? CpuTime()
    {
        try
        {
            _process.Refresh();
            return _process.TotalProcessorTime;
        }
        catch (Exception e) when (e is InvalidOperationException or System.ComponentModel.Win32Exception)
        {
            return null;
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
