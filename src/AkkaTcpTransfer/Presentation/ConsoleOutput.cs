using Akka.Actor;
using AkkaTcpTransfer.Events;

namespace AkkaTcpTransfer.Presentation;

public static class ConsoleOutput
{
    /// <summary>Starts a <see cref="ConsoleActor"/> on <paramref name="system"/>, subscribed before this returns so
    /// that no event published afterwards is missed.</summary>
    public static IActorRef Start(ActorSystem system, TextWriter output, bool json, string prefix = "")
    {
        ArgumentNullException.ThrowIfNull(system);
        var actor = system.ActorOf(ConsoleActor.Props(output, json, prefix), "console");
        system.EventStream.Subscribe(actor, typeof(NodeEvent));
        return actor;
    }
}
