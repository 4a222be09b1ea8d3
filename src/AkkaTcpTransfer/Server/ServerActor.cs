using System.Net;
using Akka.Actor;
using Akka.Event;
using AkkaTcpTransfer.Chat;
using AkkaTcpTransfer.Events;
using AkkaTcpTransfer.Hosting;
using AkkaTcpTransfer.Server.Entities;
using AkkaTcpTransfer.Server.Sessions;
using AkkaTcpTransfer.Settings;
using AkkaTcpTransfer.Tcp;
using AkkaTcpTransfer.Transfer.Storage;
using AkkaTcpTransfer.Transfer;
using AkkaTcpTransfer.Text;
using AkkaTcpTransfer.Security;
using AkkaTcpTransfer.Server.Lines;

namespace AkkaTcpTransfer.Server;

/// <summary>Root of a server node: starts the session registry, the transfer table, the partial files and the listener,
/// reports the bound port, and carries out the server operator's own commands (chat as the server, who, send).</summary>
/// <remarks>Supervision: its children are the node's singletons (the session registry, the transfer table, the partial
/// files, the listener and, in a cluster, the node links); one that fails is stopped, never restarted into a half state:
/// each holds what nothing else can rebuild (who is online, the queued and running transfers, the disk reservations,
/// the bound socket). This actor watches them all: when one stops other than on the way out, the server says goodbye
/// to its clients, naming what failed, and stops, and the node ends with that reason (exit 1 from the program).
/// With a plugin (<see cref="ServerPlugin"/>: the cluster) it starts the plugin's actors among its own children, watches
/// them like the rest, and is ready only once the plugin says so.</remarks>
internal sealed class ServerActor : ReceiveActor, IWithTimers
{

    /// <summary>A failed server's clients have had their time to hear goodbye.</summary>
    private sealed class GoodbyesOver
    {
        public static readonly GoodbyesOver Instance = new();
    }

    /// <summary>A line of the server's own was not answered within chat.confirm-timeout (a node that went away).</summary>
    private sealed record ConfirmTimedOut(uint Id);

    /// <summary>A line of the server's own on its way: its number and what it says, until the registry answers.</summary>
    private sealed record Saying(long Line, string? To, string Text);

    private readonly ILoggingAdapter _log = Context.GetLogger();
    private readonly NodeSettings _settings;
    private readonly IActorRef _registry;
    private readonly IActorRef _listener;
    private readonly IActorRef _transfers;
    private readonly List<IActorRef> _readyWaiters = [];
    private object? _startResult;
    private IActorRef? _stopRequester;
    private NodeLifecycle.Ready? _bound;
    /// <summary>False while a plugin has not said it is ready (a cluster node not yet up and accepted).</summary>
    private bool _pluginReady = true;
    /// <summary>The children the server cannot work without, and what each is called in the line that ends the node.</summary>
    private readonly Dictionary<IActorRef, string> _keyParts = [];
    private Exception? _lastFailure;
    /// <summary>The server is on its way out (asked to stop, or a key part failed): parts that end now are expected.</summary>
    private bool _stopping;
    private bool _failed;
    private readonly Dictionary<uint, Saying> _saying = [];
    private readonly List<IActorRef> _chatDrainWaiters = [];
    private long _lastLine;

    public ITimerScheduler Timers { get; set; } = null!;

    /// <param name="security">The server's TLS identity, or null to serve in plaintext.</param>
    /// <param name="plugin">What runs beside the server (the cluster), or null.</param>
    public static Props Props(NodeSettings settings, IPEndPoint bindTo, ConnectionSecurity.Server? security, ServerPlugin? plugin = null) =>
        Akka.Actor.Props.Create(() => new ServerActor(settings, bindTo, security, plugin));

    public ServerActor(NodeSettings settings, IPEndPoint bindTo, ConnectionSecurity.Server? security, ServerPlugin? plugin)
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

        // Rooms, accounts and registered names: a cluster's plugin gives the cluster's, a single server has its own.
        var (entities, entityParts) = plugin?.StartEntities(Context, settings) is { } shared
            ? (shared.Entities, shared.KeyParts)
            : LocalEntities.Start(Context, settings);
        _registry = Context.ActorOf(SessionRegistryActor.Props(settings, maxClients, entities), "sessions");
        // Files kept for several recipients or for the offline: on a single server (a cluster's nodes keep none yet).
        if (plugin is null && settings.Spool.Enabled)
        {
            entities = entities with
            {
                Spool = Context.ActorOf(LocalEntities.Restarting(Spool.SpoolActor.Props(settings, _registry, entities.Names, entities.Rooms), "spool"), "spool"),
            };
            _keyParts[entities.Spool] = "spool";
        }
        // The plugin starts before the listener: a client's session may need its links from the first frame.
        var parts = plugin?.Start(Context, new ServerPluginContext(settings, Self, _registry));
        var links = parts?.Links;
        _pluginReady = parts is null;
        _transfers = Context.ActorOf(TransfersActor.Props(settings), "transfers");
        var partials = Context.ActorOf(PartialFilesActor.Props(settings.Downloads, settings.Transfer), "partials");
        _transfers.Tell(new TransfersActor.UsePartials(partials));
        var registry = _registry;
        var transfers = _transfers;
        _listener = Context.ActorOf(ListenerActor.Props(bindTo, settings,
            // A WebSocket's TLS is the web server's: the connection inside it is plain.
            (tcp, remote, transport) => PeerActor.Props(tcp, remote, settings, registry, transfers, partials, serverId,
                transport == ListenerActor.Transport.WebSocket ? null : security, entities, links)), "listener");
        _keyParts[_registry] = "session registry";
        _keyParts[_transfers] = "transfer table";
        _keyParts[partials] = "partial files";
        _keyParts[_listener] = "listener";
        if (parts is not null) _keyParts[parts.Root] = parts.Name;
        if (links is not null) _keyParts[links] = "node links";
        foreach (var (part, what) in entityParts) _keyParts[part] = what;
        foreach (var part in _keyParts.Keys) Context.Watch(part);

        Receive<ListenerMessages.Bound>(b =>
        {
            Context.System.EventStream.Publish(new Listening(b.Endpoint.Address.ToString(), b.Endpoint.Port,
                security?.Identity.Fingerprint, security?.Identity.CertificateFile));
            _bound = new NodeLifecycle.Ready(b.Endpoint.Address.ToString(), b.Endpoint.Port, _settings.Name, _settings.Name);
            if (_pluginReady) Started(_bound);
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
        Receive<ListenerMessages.AdoptWebSocket>(a => _listener.Forward(a));
        Receive<NodeCommands.Say>(s => Say(null, s.Text));
        Receive<NodeCommands.SayTo>(s => Say(s.To.Trim(), s.Text));
        Receive<NodeCommands.Who>(_ => _registry.Tell(SessionMessages.Who.Instance));
        // The operator sees the rooms and their members as a client does: the list comes back as a frame, to this actor.
        Receive<NodeCommands.ListRooms>(_ => entities.RoomDirectory.Tell(new Rooms.RoomMessages.List(Self, _settings.MaxFrameSize - 512)));
        Receive<NodeCommands.ListMembers>(m => entities.Rooms.Tell(new EntityEnvelope(Chat.RoomNames.EntityId(m.Room.Trim()),
            new Rooms.RoomMessages.Members(m.Room.Trim(), Self, _settings.MaxFrameSize - 512))));
        Receive<ConnectionMessages.Post>(p => p.Frame is Protocol.RoomList or Protocol.MemberList or Protocol.RoomRefused, p =>
        {
            Context.System.EventStream.Publish(p.Frame switch
            {
                Protocol.RoomList l => new RoomsListed([.. l.Rooms.Select(r => new RoomSummary(r.Room, r.Members, r.Topic))]),
                Protocol.MemberList l => new MembersListed(l.Room, [.. l.Members.Select(m => new MemberSummary(m.Name, m.Online))]),
                Protocol.RoomRefused r => new RoomRequestRefused(r.Room, r.Reason),
                _ => throw new InvalidOperationException("filtered above"),
            });
        });
        Receive<NodeCommands.FreeName>(f => entities.Names.Tell(new Names.NameMessages.Free(f.Name.Trim())));
        Receive<Names.NameMessages.Status>(s => Context.System.EventStream.Publish(new NameRegistration(s.Name, s.Registered, s.Reason)));
        Receive<NodeCommands.IServerRequest>(_ => Context.System.EventStream.Publish(new ErrorOccurred(
            "joining rooms, history and registration are for clients; the server speaks to everyone, to a person, and lists rooms (/rooms, /members)")));
        Receive<SessionMessages.WhoResult>(w => Context.System.EventStream.Publish(new WhoListed(w.Names)));
        Receive<LineAnswers.SayDone>(d => SayAnswered(d.Id, line => new ChatSent(line.Line, line.To, line.Text, DateTimeOffset.FromUnixTimeMilliseconds(d.AtMs))));
        Receive<LineAnswers.SayFailed>(f => SayAnswered(f.Id, line => new ChatNotSent(line.Line, line.To, line.Text, f.Reason)));
        // The server's own lines cost no fan-out allowance: never deferred. Should one be, it asks again after the wait.
        Receive<LineAnswers.SayDeferred>(d =>
        {
            if (_saying.TryGetValue(d.Id, out var line))
                Context.System.Scheduler.ScheduleTellOnce(d.Wait, _registry, new SessionMessages.Say(d.Id, line.To ?? "", line.Text), Self);
        });
        Receive<ConfirmTimedOut>(t => SayAnswered(t.Id, line => new ChatNotSent(line.Line, line.To, line.Text,
            $"not confirmed: the server node of {line.To} did not answer within {Units.Seconds(_settings.Chat.ConfirmTimeout)}")));
        Receive<NodeLifecycle.DrainChat>(_ =>
        {
            if (_saying.Count == 0) Sender.Tell(NodeLifecycle.ChatDrained.Instance);
            else _chatDrainWaiters.Add(Sender);
        });
        Receive<NodeLifecycle.ListChat>(_ => Sender.Tell(new NodeLifecycle.ChatOpen(_saying.Count)));
        Receive<NodeCommands.SendFile>(OnSendFile);
        Receive<NodeCommands.CancelTransfer>(c => _transfers.Forward(c));
        Receive<NodeCommands.AcceptTransfer>(c => _transfers.Forward(c));
        Receive<NodeCommands.RejectTransfer>(c => _transfers.Forward(c));
        Receive<NodeCommands.ListTransfers>(c => _transfers.Forward(c));
        Receive<NodeLifecycle.DrainOutgoing>(c => _transfers.Forward(c));
        Receive<NodeLifecycle.ListOutgoing>(c => _transfers.Forward(c));
        // An outgoing transfer is started by the peer actor of its recipient, found through the registry.
        Receive<TransferMessages.StartSend>(spec => _registry.Tell(new SessionMessages.FindSendRecipient(spec)));
        Receive<SessionMessages.SendRecipient>(r =>
        {
            if (r.Peer is null) _transfers.Tell(new TransferMessages.SendRefused(r.Spec.Id, r.Reason ?? $"no one named '{r.Spec.To}' is online"));
            else r.Peer.Tell(r.Spec with { To = r.Name });
        });
        Receive<NodeLifecycle.Stop>(s =>
        {
            _stopRequester = Sender;
            _stopping = true;
            _listener.Tell(new ListenerMessages.Drain(s.Reason));
        });
        Receive<ListenerMessages.Drained>(_ =>
        {
            ReplyStopped();
            if (_failed) Context.Stop(Self);
        });
        Receive<Terminated>(t => _keyParts.ContainsKey(t.ActorRef), t => KeyPartStopped(t.ActorRef));
        Receive<GoodbyesOver>(_ => Context.Stop(Self));
        Receive<ServerPluginMessages.Ready>(_ =>
        {
            _pluginReady = true;
            if (_bound is not null && _startResult is null) Started(_bound);
        });
        Receive<ServerPluginMessages.Failed>(f =>
        {
            _log.Error("{0}", f.Reason);
            if (_startResult is null) Started(new NodeLifecycle.StartFailed(f.Kind, f.Reason));
            else Context.System.EventStream.Publish(new ErrorOccurred(f.Reason));
        });
    }

    /// <summary>A child the server cannot work without has stopped. On the way out that is expected; otherwise the server
    /// ends: its clients hear why (the listener says goodbye to each), the node's exit reason names the part, and this
    /// actor stops, which ends the node (a listener that is gone cannot say goodbye: then it stops at once).</summary>
    private void KeyPartStopped(IActorRef part)
    {
        var what = _keyParts[part];
        _keyParts.Remove(part);
        if (_stopping)
        {
            if (part.Equals(_listener)) ReplyStopped();
            if (part.Equals(_listener) && _failed) Context.Stop(Self);
            return;
        }
        var why = _lastFailure is { } e ? $"{e.GetType().Name}: {e.Message}" : "it stopped";
        var reason = $"the server's {what} failed ({why}); the server stops";
        _log.Error("{0}", reason);
        NodeEnding.Get(Context.System).Record(new NodeExit(Failed: true, reason));
        Context.System.EventStream.Publish(new ErrorOccurred(reason));
        _stopping = true;
        _failed = true;
        if (_startResult is null) Started(new NodeLifecycle.StartFailed(StartFailure.InternalFailure, reason));
        if (part.Equals(_listener) || !_keyParts.ContainsKey(_listener))
        {
            Context.Stop(Self);
            return;
        }
        _listener.Tell(new ListenerMessages.Drain($"the server stops: its {what} failed"));
        // The goodbyes are bounded like a normal stop's; after that the server stops anyway.
        Timers.StartSingleTimer(nameof(GoodbyesOver), GoodbyesOver.Instance, _settings.Connection.CloseTimeout + TimeSpan.FromSeconds(1));
    }

    protected override SupervisorStrategy SupervisorStrategy() => new OneForOneStrategy(e =>
    {
        _lastFailure = e;
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

    private void Say(string? to, string text)
    {
        var number = ++_lastLine;
        to = string.IsNullOrEmpty(to) ? null : to;
        if (ChatText.Validate(text, _settings.Chat.MaxMessageBytes) is { } problem)
        {
            Context.System.EventStream.Publish(new ChatNotSent(number, to, text, problem.Reason));
            return;
        }
        var id = unchecked((uint)number);
        _saying[id] = new Saying(number, to, text);
        _registry.Tell(new SessionMessages.Say(id, to ?? "", text));
        Timers.StartSingleTimer(("confirm", id), new ConfirmTimedOut(id), _settings.Chat.ConfirmTimeout);
    }

    /// <summary>The registry (or another node's) answered one of the server's own lines: the event says how it went.</summary>
    private void SayAnswered(uint id, Func<Saying, Events.NodeEvent> outcome)
    {
        if (!_saying.Remove(id, out var line)) return;
        Timers.Cancel(("confirm", id));
        Context.System.EventStream.Publish(outcome(line));
        if (_saying.Count > 0) return;
        foreach (var waiter in _chatDrainWaiters) waiter.Tell(NodeLifecycle.ChatDrained.Instance);
        _chatDrainWaiters.Clear();
    }
}
