using Akka.Actor;
using Akka.Event;

namespace AkkaTcpTransfer.Events;

/// <summary>For programs without actors of their own: receive a node's events through a callback. The callback
/// runs inside a small subscriber actor, one event at a time, in publication order.</summary>
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
        return new Unsubscriber(system, actor);
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
        }

        protected override void PostStop() => Context.System.EventStream.Unsubscribe(Self);
    }

    private sealed class Unsubscriber(ActorSystem system, IActorRef actor) : IDisposable
    {
        public void Dispose()
        {
            system.EventStream.Unsubscribe(actor);
            system.Stop(actor);
        }
    }
}
