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
