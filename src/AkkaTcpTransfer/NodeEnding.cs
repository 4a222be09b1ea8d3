using Akka.Actor;
using Akka.Event;

namespace AkkaTcpTransfer;

/// <summary>How a node ended: asked to stop (<see cref="Failed"/> false), or because a part it cannot work without
/// failed, with <see cref="Reason"/> naming that part and why.</summary>
public sealed record NodeExit(bool Failed, string Reason);

/// <summary>Why this node's actor system is ending, recorded once, by whoever knows first: the hosting API when it is
/// asked to stop, the node's root actor when a part it cannot live without fails, the root's watcher when the root
/// itself stops for any other reason. <see cref="NodeHost.Terminated"/> completes with it.</summary>
internal sealed class NodeEnding : IExtension
{
    private readonly TaskCompletionSource<NodeExit> _exit = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public static NodeEnding Get(ActorSystem system) => system.WithExtension<NodeEnding, NodeEndingProvider>();

    /// <summary>The first reason recorded; later ones are ignored.</summary>
    public void Record(NodeExit exit) => _exit.TrySetResult(exit);

    public NodeExit? Exit => _exit.Task.IsCompleted ? _exit.Task.Result : null;

    /// <summary>The root actor has stopped: nobody is left to say goodbye to peers.</summary>
    public bool RootStopped { get; set; }

    private sealed class NodeEndingProvider : ExtensionIdProvider<NodeEnding>
    {
        public override NodeEnding CreateExtension(ExtendedActorSystem system) => new();
    }
}

/// <summary>The reason CoordinatedShutdown runs when a node ends because its root stopped.</summary>
internal sealed class NodeEndedReason : CoordinatedShutdown.Reason
{
    public static readonly NodeEndedReason Instance = new();
    private NodeEndedReason() { }

    /// <summary>Not used to exit the process: the program decides its exit code from <see cref="NodeExit"/>.</summary>
    public override int ExitCode => 1;
}

/// <summary>Watches a node's root actor, beside it under the user guardian: when the root stops, whatever the cause (it
/// ended the node on purpose after a key part failed, it failed itself and the guardian stopped it, a client that was
/// refused), the actor system is shut down, so that nothing lives on serving nobody and an embedder's
/// <see cref="NodeHost.Terminated"/> completes, with the reason.</summary>
internal sealed class RootWatcherActor : ReceiveActor
{
    public static Props Props(IActorRef root, string role) => Akka.Actor.Props.Create(() => new RootWatcherActor(root, role));

    public RootWatcherActor(IActorRef root, string role)
    {
        Context.Watch(root);
        Receive<Terminated>(t => t.ActorRef.Equals(root), _ =>
        {
            var ending = NodeEnding.Get(Context.System);
            ending.RootStopped = true;
            if (ending.Exit is null)
            {
                var exit = new NodeExit(Failed: true, $"the {role} stopped unexpectedly (see the log for why)");
                Context.GetLogger().Error("{0}", exit.Reason);
                ending.Record(exit);
            }
            CoordinatedShutdown.Get(Context.System).Run(NodeEndedReason.Instance);
        });
    }
}
