using System.Collections.Concurrent;
using Akka.Actor;
using Akka.Event;

namespace AkkaTcpTransfer.Events;

/// <summary>For programs without actors of their own: receive a node's events through a callback. The callback
/// runs inside a small subscriber actor, one event at a time, in publication order. Every event published before the
/// node ends reaches the callback: the node's shutdown waits (a moment at most) until each subscriber has handled
/// what was published to it.</summary>
public static class EventSubscription
{
    /// <summary>Calls <paramref name="handler"/> for every event of type <typeparamref name="T"/> published on
    /// <paramref name="system"/>'s EventStream from now on. Dispose the result to stop.</summary>
    public static IDisposable Subscribe<T>(this ActorSystem system, Action<T> handler) where T : NodeEvent
    {
        ArgumentNullException.ThrowIfNull(system);
        var actor = system.ActorOf(Props.Create(() => new CallbackActor<T>(handler)));
        // Subscribe synchronously so that nothing published after this call is missed.
        system.EventStream.Subscribe(actor, typeof(T));
        var live = Subscribers.Get(system);
        live.Actors[actor] = 0;
        return new Unsubscriber(system, actor, live);
    }

    /// <summary>Answered by a subscriber once it has handled everything sent to it before.</summary>
    private sealed class Drain
    {
        public static readonly Drain Instance = new();
    }

    private sealed class Drained
    {
        public static readonly Drained Instance = new();
    }

    private sealed class CallbackActor<T> : ReceiveActor where T : NodeEvent
    {
        public CallbackActor(Action<T> handler)
        {
            var log = Context.GetLogger();
            Receive<T>(e =>
            {
                try
                {
                    handler(e);
                }
                catch (Exception ex)
                {
                    log.Error(ex, "event handler failed on {0}", e);
                }
            });
            Receive<Drain>(_ => Sender.Tell(Drained.Instance));
        }

        protected override void PostStop() => Context.System.EventStream.Unsubscribe(Self);
    }

    /// <summary>The live subscribers of one actor system, drained by CoordinatedShutdown before the system terminates
    /// (stopping them at once would drop events still in their mailboxes: the last ones, which say how the node ended).</summary>
    private sealed class Subscribers : IExtension
    {
        public ConcurrentDictionary<IActorRef, byte> Actors { get; } = new();

        public static Subscribers Get(ActorSystem system) => system.WithExtension<Subscribers, Provider>();

        private sealed class Provider : ExtensionIdProvider<Subscribers>
        {
            public override Subscribers CreateExtension(ExtendedActorSystem system)
            {
                var subscribers = new Subscribers();
                CoordinatedShutdown.Get(system).AddTask(CoordinatedShutdown.PhaseBeforeActorSystemTerminate, "drain-event-subscribers", async () =>
                {
                    try
                    {
                        await Task.WhenAll(subscribers.Actors.Keys.Select(a => a.Ask<Drained>(Drain.Instance, TimeSpan.FromSeconds(2))));
                    }
                    catch (Exception e) when (e is AskTimeoutException or TaskCanceledException)
                    {
                        // A handler that takes longer than that does not hold the node up.
                    }
                    return Akka.Done.Instance;
                });
                return subscribers;
            }
        }
    }

    private sealed class Unsubscriber(ActorSystem system, IActorRef actor, Subscribers live) : IDisposable
    {
        public void Dispose()
        {
            live.Actors.TryRemove(actor, out _);
            system.EventStream.Unsubscribe(actor);
            system.Stop(actor);
        }
    }
}
