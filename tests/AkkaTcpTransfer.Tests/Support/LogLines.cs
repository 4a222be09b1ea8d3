using Akka.Actor;
using Akka.Event;

namespace AkkaTcpTransfer.Tests.Support;

/// <summary>Waits for a log line (INFO, WARNING or ERROR) of one node's actor system (the node must log at INFO).</summary>
public static class LogLines
{
    public static async Task<string> WaitFor(ActorSystem system, Func<string, bool> match, TimeSpan timeout)
    {
        var found = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
        var watcher = system.ActorOf(Props.Create(() => new Watcher(match, found)));
        system.EventStream.Subscribe(watcher, typeof(LogEvent));
        try
        {
            return await found.Task.WaitAsync(timeout);
        }
        catch (TimeoutException)
        {
            throw new TimeoutException($"no log line as expected within {timeout}");
        }
        finally
        {
            system.EventStream.Unsubscribe(watcher);
            system.Stop(watcher);
        }
    }

    /// <summary>Keeps every log line of <paramref name="system"/> that matches, from now until disposed.</summary>
    public static Collector Collect(ActorSystem system, Func<string, bool> match) => new(system, match);

    public sealed class Collector : IDisposable
    {
        private readonly ActorSystem _system;
        private readonly IActorRef _watcher;
        private readonly System.Collections.Concurrent.ConcurrentQueue<string> _lines = new();

        internal Collector(ActorSystem system, Func<string, bool> match)
        {
            _system = system;
            _watcher = system.ActorOf(Props.Create(() => new Keeper(match, _lines)));
            system.EventStream.Subscribe(_watcher, typeof(LogEvent));
        }

        public IReadOnlyList<string> Lines => [.. _lines];

        public void Dispose()
        {
            _system.EventStream.Unsubscribe(_watcher);
            _system.Stop(_watcher);
        }

        private sealed class Keeper : ReceiveActor
        {
            public Keeper(Func<string, bool> match, System.Collections.Concurrent.ConcurrentQueue<string> lines) =>
                Receive<LogEvent>(e =>
                {
                    var line = e.Message?.ToString() ?? "";
                    if (e is not Debug && match(line)) lines.Enqueue(line);
                });
        }
    }

    private sealed class Watcher : ReceiveActor
    {
        public Watcher(Func<string, bool> match, TaskCompletionSource<string> found) =>
            Receive<LogEvent>(e =>
            {
                if (e is Debug) return;
                var line = e.Message?.ToString() ?? "";
                if (match(line)) found.TrySetResult(line);
            });
    }
}
