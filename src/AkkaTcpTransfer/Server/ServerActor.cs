using System.Net;
using Akka.Actor;
using AkkaTcpTransfer.Chat;
using AkkaTcpTransfer.Events;
using AkkaTcpTransfer.Settings;
using AkkaTcpTransfer.Tcp;
using AkkaTcpTransfer.Transfer;

namespace AkkaTcpTransfer.Server;

/// <summary>Root of a server node: starts the session registry and the listener, reports the bound port, and
/// carries out the server operator's own commands (chat as the server, who).</summary>
internal sealed class ServerActor : ReceiveActor
{
    private readonly NodeSettings _settings;
    private readonly IActorRef _registry;
    private readonly IActorRef _listener;
    private readonly IActorRef _transfers;
    private readonly List<IActorRef> _readyWaiters = [];
    private object? _startResult;
    private IActorRef? _stopRequester;

    public static Props Props(NodeSettings settings, IPEndPoint bindTo) =>
        Akka.Actor.Props.Create(() => new ServerActor(settings, bindTo));

    public ServerActor(NodeSettings settings, IPEndPoint bindTo)
    {
        _settings = settings;
        _registry = Context.ActorOf(SessionRegistryActor.Props(settings), "sessions");
        _transfers = Context.ActorOf(TransfersActor.Props(settings), "transfers");
        var partials = Context.ActorOf(PartialFilesActor.Props(settings.Downloads, settings.Transfer.FileIoDispatcher), "partials");
        var registry = _registry;
        var transfers = _transfers;
        _listener = Context.ActorOf(ListenerActor.Props(bindTo, settings.Server.Backlog, settings.Connection.UnsentLowWatermark,
            (tcp, remote) => PeerActor.Props(tcp, remote, settings, registry, transfers, partials)), "listener");
        Context.Watch(_listener);

        Receive<ListenerMessages.Bound>(b =>
        {
            Context.System.EventStream.Publish(new Listening(b.Endpoint.Address.ToString(), b.Endpoint.Port));
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
        Receive<TransferMessages.StartSend>(spec => _registry.Tell(new SessionMessages.Lookup(spec.To, spec)));
        Receive<SessionMessages.LookupResult>(r => r.Tag is TransferMessages.StartSend, r =>
        {
            var spec = (TransferMessages.StartSend)r.Tag;
            if (r.Peer is null) _transfers.Tell(new TransferMessages.SendRefused(spec.Id, $"no one named '{spec.To}' is online"));
            else r.Peer.Tell(spec with { To = r.Name });
        });
        Receive<NodeLifecycle.Stop>(s =>
        {
            _stopRequester = Sender;
            _listener.Tell(new ListenerMessages.Drain(s.Reason));
        });
        Receive<ListenerMessages.Drained>(_ => ReplyStopped());
        Receive<Terminated>(t => t.ActorRef.Equals(_listener), _ => ReplyStopped());
    }

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
        _registry.Tell(new SessionMessages.Say(_settings.Name, to, text));
    }
}
