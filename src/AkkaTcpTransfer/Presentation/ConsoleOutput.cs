using Akka.Actor;
using AkkaTcpTransfer.Events;

namespace AkkaTcpTransfer.Presentation;

internal static class ConsoleOutput
{
    /// <summary>Starts a <see cref="ConsoleActor"/> on <paramref name="system"/>, subscribed before this returns so
    /// that no event published afterwards is missed.</summary>
    /// <param name="live">Draw progress bars in place (for a terminal); otherwise print progress as lines.</param>
    /// <param name="asks">The node asks before receiving: offers say how to answer.</param>
    public static IActorRef Start(ActorSystem system, TextWriter output, bool json, string prefix = "", bool live = false, bool asks = false)
    {
        ArgumentNullException.ThrowIfNull(system);
        var actor = system.ActorOf(ConsoleActor.Props(output, json, prefix, live, asks), "console");
        system.EventStream.Subscribe(actor, typeof(NodeEvent));
        return actor;
    }
}
