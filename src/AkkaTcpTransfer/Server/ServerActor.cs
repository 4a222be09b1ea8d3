using System.Net;
using Akka.Actor;
using AkkaTcpTransfer.Chat;
using AkkaTcpTransfer.Events;
using AkkaTcpTransfer.Settings;
using AkkaTcpTransfer.Tcp;

namespace AkkaTcpTransfer.Server;

/// <summary>Root of a server node: starts the session registry and the listener, reports the bound port, and
/// carries out the server operator's own commands (chat as the server, who).</summary>
internal sealed class ServerActor : ReceiveActor
{
    private readonly NodeSettings _settings;
    private readonly IActorRef _registry;
    private readonly IActorRef _listener;
    private readonly List<IActorRef> _readyWaiters = [];
    private object? _startResult;
    private IActorRef? _stopRequester;

    public static Props Props(NodeSettings settings, IPEndPoint bindTo) =>
        Akka.Actor.Props.Create(() => new ServerActor(settings, bindTo));

    public ServerActor(NodeSettings settings, IPEndPoint bindTo)
    {
        _settings = settings;
        _registry = Context.ActorOf(SessionRegistryActor.Props(settings), "sessions");
        var registry = _registry;
        _listener = Context.ActorOf(ListenerActor.Props(bindTo, settings.Server.Backlog,
            (tcp, remote) => PeerActor.Props(tcp, remote, settings, registry)), "listener");
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
