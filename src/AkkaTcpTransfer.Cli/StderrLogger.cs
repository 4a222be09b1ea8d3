using Akka.Actor;
using Akka.Dispatch;
using Akka.Event;

namespace AkkaTcpTransfer.Cli;

/// <summary>Akka logger for the program: one compact line per log event on standard error (standard output carries
/// events only). Stack traces only at DEBUG. While a node starts, lines are held: a failed start is reported by
/// exactly one line of the program's own, so the held lines are discarded; a successful start releases them.</summary>
public sealed class StderrLogger : ReceiveActor, IRequiresMessageQueue<ILoggerMessageQueueSemantics>
{
    private static readonly object Gate = new();
    private static List<string>? _held;
    private static TextWriter _target = Console.Error;

    /// <summary>From now on, log lines go to <paramref name="file"/> (appended) instead of standard error: the
    /// full-screen UI owns the terminal.</summary>
    public static void RedirectTo(string file)
    {
        try
        {
            Directory.CreateDirectory(Path.GetDirectoryName(file)!);
            var writer = new StreamWriter(file, append: true) { AutoFlush = true };
            lock (Gate) _target = writer;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            lock (Gate) _target = TextWriter.Null;
        }
    }

    /// <summary>From now on, keep log lines instead of writing them.</summary>
    public static void Hold()
    {
        lock (Gate) _held ??= [];
    }

    /// <summary>Write the kept lines and stop keeping (<paramref name="write"/> true), or drop them.</summary>
    public static void Release(bool write)
    {
        lock (Gate)
        {
            if (write && _held is not null)
            {
                foreach (var line in _held) _target.WriteLine(line);
            }
            _held = null;
        }
    }

    public StderrLogger()
    {
        Receive<InitializeLogger>(_ => Sender.Tell(new LoggerInitialized()));
        Receive<LogEvent>(e =>
        {
            var line = Format(e);
            lock (Gate)
            {
                if (_held is not null) _held.Add(line);
                else _target.WriteLine(line);
            }
        });
    }

    private static string Format(LogEvent e)
    {
        var text = $"akka-tcp-transfer [{e.LogLevel().ToString().Replace("Level", "", StringComparison.Ordinal).ToUpperInvariant()}] {e.LogSource}: {e.Message}";
        if (e.Cause is null) return text;
        return e.LogLevel() == LogLevel.DebugLevel ? $"{text}\n{e.Cause}" : $"{text} ({e.Cause.GetType().Name}: {e.Cause.Message.Split('\n')[0]})";
    }
}
