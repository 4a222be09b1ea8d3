using System.Net;
using Akka.Actor;
using Akka.Event;
using AkkaTcpTransfer.Chat;
using AkkaTcpTransfer.Events;
using AkkaTcpTransfer.Hosting;
using AkkaTcpTransfer.Server.Sessions;
using AkkaTcpTransfer.Settings;
using AkkaTcpTransfer.Tcp;
using AkkaTcpTransfer.Transfer;

namespace AkkaTcpTransfer.Server;

/// <summary>Root of a server node: starts the session registry, the transfer table, the partial files and the listener,
/// reports the bound port, and carries out the server operator's own commands (chat as the server, who, send).</summary>
/// <remarks>Supervision: its children are the node's singletons; one that fails is stopped and the failure is logged.
/// The listener's end ends the node's service (the server stops); the others are not restarted into a half state.</remarks>
internal sealed class ServerActor : ReceiveActor
{
    private readonly ILoggingAdapter _log = Context.GetLogger();
    private readonly NodeSettings _settings;
    private readonly IActorRef _registry;
    private readonly IActorRef _listener;
    private readonly IActorRef _transfers;
    private readonly List<IActorRef> _readyWaiters = [];
    private object? _startResult;
    private IActorRef? _stopRequester;

    /// <param name="security">The server's TLS identity, or null to serve in plaintext.</param>
    public static Props Props(NodeSettings settings, IPEndPoint bindTo, ConnectionSecurity.Server? security) =>
        Akka.Actor.Props.Create(() => new ServerActor(settings, bindTo, security));

    public ServerActor(NodeSettings settings, IPEndPoint bindTo, ConnectionSecurity.Server? security)
    {
        _settings = settings;
        var descriptors = DescriptorBudget.Get(Context.System);
        descriptors.Initialise(settings.Server.DescriptorReserve);
        var maxClients = settings.Server.MaxClients
            ?? (int)Math.Clamp(descriptors.ConnectionCapacity == long.MaxValue ? 20_000 : descriptors.ConnectionCapacity, 1, 1_000_000);
        if (descriptors.ProcessLimit > 0)
            _log.Info("file descriptor limit {0}: up to {1} clients (server.max-clients), {2} descriptors for connections and files",
                descriptors.ProcessLimit, maxClients, descriptors.Capacity);
        // The server's own identity for the offers it sends: a receiver ties partial files to it.
        var serverId = ClientIdentity.Of(new StateFolder(settings.StateDir).ReadOrCreateSecret("server-identity.key", 32));

        _registry = Context.ActorOf(SessionRegistryActor.Props(settings, maxClients), "sessions");
        _transfers = Context.ActorOf(TransfersActor.Props(settings), "transfers");
        var partials = Context.ActorOf(PartialFilesActor.Props(settings.Downloads, settings.Transfer), "partials");
        _transfers.Tell(new TransfersActor.UsePartials(partials));
        var registry = _registry;
        var transfers = _transfers;
        _listener = Context.ActorOf(ListenerActor.Props(bindTo, settings,
            (tcp, remote) => PeerActor.Props(tcp, remote, settings, registry, transfers, partials, serverId, security)), "listener");
        Context.Watch(_listener);

        Receive<ListenerMessages.Bound>(b =>
        {
            Context.System.EventStream.Publish(new Listening(b.Endpoint.Address.ToString(), b.Endpoint.Port,
                security?.Identity.Fingerprint, security?.Identity.CertificateFile));
            Started(new NodeLifecycle.Ready(b.Endpoint.Address.ToString(), b.Endpoint.Port, _settings.Name, _settings.Name));
        });
        Receive<ListenerMessages.BindFailed>(f =>
        {
            Started(new NodeLifecycle.StartFailed(StartFailure.CannotBind, $"cannot listen on {bindTo}: {f.Reason}"));
        });
        Receive<NodeLifecycle.AwaitReady>(_ =>
        {
            if (_startResult is not null) Sender.Tell(_startResult);
            else _readyWaiters.Add(Sender);
        });
        Receive<NodeCommands.Say>(s => Say("", s.Text));
        Receive<NodeCommands.SayTo>(s => Say(s.To.Trim(), s.Text));
        Receive<NodeCommands.Who>(_ => _registry.Tell(SessionMessages.Who.Instance));
        Receive<SessionMessages.WhoResult>(w => Context.System.EventStream.Publish(new WhoListed(w.Names)));
        Receive<SessionMessages.SayFailed>(f => Context.System.EventStream.Publish(new ErrorOccurred(f.Reason)));
        Receive<NodeCommands.SendFile>(OnSendFile);
        Receive<NodeCommands.CancelTransfer>(c => _transfers.Forward(c));
        Receive<NodeCommands.AcceptTransfer>(c => _transfers.Forward(c));
        Receive<NodeCommands.RejectTransfer>(c => _transfers.Forward(c));
        Receive<NodeCommands.ListTransfers>(c => _transfers.Forward(c));
        Receive<NodeLifecycle.DrainOutgoing>(c => _transfers.Forward(c));
        // An outgoing transfer is started by the peer actor of its recipient, found through the registry.
        Receive<TransferMessages.StartSend>(spec => _registry.Tell(new SessionMessages.FindSendRecipient(spec)));
        Receive<SessionMessages.SendRecipient>(r =>
        {
            if (r.Peer is null) _transfers.Tell(new TransferMessages.SendRefused(r.Spec.Id, $"no one named '{r.Spec.To}' is online"));
            else r.Peer.Tell(r.Spec with { To = r.Name });
        });
        Receive<NodeLifecycle.Stop>(s =>
        {
            _stopRequester = Sender;
            _listener.Tell(new ListenerMessages.Drain(s.Reason));
        });
        Receive<ListenerMessages.Drained>(_ => ReplyStopped());
        Receive<Terminated>(t => t.ActorRef.Equals(_listener), _ => ReplyStopped());
    }

    protected override SupervisorStrategy SupervisorStrategy() => new OneForOneStrategy(e =>
    {
        _log.Error(e, "a part of the server failed and was stopped");
        return Directive.Stop;
    });

    private void ReplyStopped()
    {
        _stopRequester?.Tell(NodeLifecycle.Stopped.Instance);
        _stopRequester = null;
    }

    private void Started(object result)
    {
        _startResult = result;
        foreach (var waiter in _readyWaiters) waiter.Tell(result);
        _readyWaiters.Clear();
    }

    private void OnSendFile(NodeCommands.SendFile send)
    {
        var to = send.To?.Trim() ?? "";
        if (to.Length == 0)
        {
            Context.System.EventStream.Publish(new ErrorOccurred("the server sends to a named client: /send NAME PATH"));
            return;
        }
        if (PeerNames.Comparer.Equals(to, _settings.Name))
        {
            Context.System.EventStream.Publish(new ErrorOccurred("the server cannot send a file to itself"));
            return;
        }
        _transfers.Tell(new TransfersActor.Send(to, send.Path));
    }

    private void Say(string to, string text)
    {
        if (ChatText.Validate(text, _settings.Chat.MaxMessageBytes) is { } problem)
        {
            Context.System.EventStream.Publish(new ErrorOccurred(problem.Reason));
            return;
        }
        _registry.Tell(new SessionMessages.Say(to, text));
        Context.System.EventStream.Publish(new ChatSent(to.Length == 0 ? null : to, text, DateTimeOffset.UtcNow));
    }
}
