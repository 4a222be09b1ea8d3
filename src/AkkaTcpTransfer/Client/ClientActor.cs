using System.Net;
using Akka.Actor;
using Akka.Event;
using AkkaTcpTransfer.Events;
using AkkaTcpTransfer.Protocol;
using AkkaTcpTransfer.Security;
using AkkaTcpTransfer.Settings;
using AkkaTcpTransfer.Tcp;
using AkkaTcpTransfer.Transfer.Storage;
using AkkaTcpTransfer.Transfer;

namespace AkkaTcpTransfer.Client;

/// <summary>Root of a client node, as <see cref="Server.ServerActor"/> is of a server: it owns the node's transfer table
/// and partial files, takes the node's commands, and connects through one <see cref="ClientSessionActor"/> per
/// connection (which owns the connection, the handshake, chat and the transfers on it), the way a server has one
/// <see cref="Server.PeerActor"/> per client. It tries the servers of a cluster in turn and reconnects with exponential
/// backoff when an established connection is lost. A refused handshake (bad token, name taken) or a first connection
/// that cannot be made ends the client: retrying would not help. Its resume key (its identity to the server: partial
/// files of its uploads belong to it) is kept in the state folder, one per server and name, and given to every
/// session for its Hello.</summary>
/// <remarks>Supervision: every child is stopped on failure, never restarted. A session that fails is treated as a lost
/// connection: its connection closes and its transfers fail with it, and the client reconnects with backoff (the next
/// server of a cluster), as it does when the server goes away. The transfer table or the partial files failing ends the
/// client, naming the part: they hold the node's transfers and disk reservations, which nothing else can rebuild.</remarks>
internal sealed class ClientActor : ReceiveActor, IWithTimers
{
    private sealed class Reconnect
    {
        public static readonly Reconnect Instance = new();
    }

    private readonly ILoggingAdapter _log = Context.GetLogger();
    private readonly NodeSettings _settings;
    private readonly IReadOnlyList<ServerAddress> _servers;
    private int _current;
    private int _failedThisRound;
    private readonly List<IActorRef> _readyWaiters = [];
    private readonly IActorRef _transfers;
    private readonly IActorRef _partials;
    private Exception? _lastFailure;
    private readonly StateFolder _state;
    private readonly string _keyFile;
    private readonly IDisposable? _keyLock;
    private object? _startResult;
    /// <summary>The session of the current connection, until it is over (then it is released and this is null).</summary>
    private IActorRef? _session;
    private IActorRef? _stopRequester;
    private byte[] _resumeKey = [];
    private string _serverName = "";
    /// <summary>A transient refusal the server gave this session; the connection's end is reported as it.</summary>
    private string? _refusal;
    private bool _everOnline;
    private int _attempt;
    private int _sessionNumber;
    /// <summary>The node numbers its chat lines (from 1), across sessions.</summary>
    private long _lastLine;

    public ITimerScheduler Timers { get; set; } = null!;

    /// <param name="security">How to check the server's TLS identity, or null to connect in plaintext.</param>
    public static Props Props(NodeSettings settings, IPEndPoint server, ConnectionSecurity.Client? security) =>
        Props(settings, [new ServerAddress(server, security)]);

    /// <param name="servers">The nodes of one server (a cluster), tried in turn: the first at start, the next whenever
    /// one cannot be reached or its connection is lost.</param>
    public static Props Props(NodeSettings settings, IReadOnlyList<ServerAddress> servers) =>
        Akka.Actor.Props.Create(() => new ClientActor(settings, servers));

    /// <summary>One server node to try, with how to check its TLS identity (null: plaintext).</summary>
    public sealed record ServerAddress(IPEndPoint Endpoint, ConnectionSecurity.Client? Security);

    public ClientActor(NodeSettings settings, IReadOnlyList<ServerAddress> servers)
    {
        if (servers.Count == 0) throw new ArgumentException("at least one server", nameof(servers));
        _settings = settings;
        _servers = servers;
        _transfers = Context.ActorOf(TransfersActor.Props(settings), "transfers");
        var partials = Context.ActorOf(PartialFilesActor.Props(settings.Downloads, settings.Transfer), "partials");
        _partials = partials;
        // The transfer table and the partial files are this node's own: without either it cannot send or receive.
        Context.Watch(_transfers);
        Context.Watch(partials);
        _transfers.Tell(new TransfersActor.UsePartials(partials));
        _state = new StateFolder(settings.StateDir);
        _keyFile = StateFolder.ResumeKeyFile(settings.Host, settings.Port, settings.Name);
        // One running client per identity: a second client of the same name, server and state folder gets a new
        // identity for this run instead (and so is refused the name while the first is online, rather than taking it).
        _keyLock = _state.TryLock(_keyFile);
        if (_keyLock is not null) _resumeKey = _state.ReadSecret(_keyFile) ?? [];
        else _log.Warning("another client named {0} for {1}:{2} is running from {3}; this one uses a new identity", settings.Name, settings.Host, settings.Port, _state.Path);
        Connect();
    }

    protected override void PostStop() => _keyLock?.Dispose();

    /// <summary>Every child is stopped when it fails, never restarted: a session (a lost connection: reconnect), the
    /// transfer table or the partial files (the client ends, exit 1, naming it).</summary>
    protected override SupervisorStrategy SupervisorStrategy() => new OneForOneStrategy(e =>
    {
        _lastFailure = e;
        return Directive.Stop;
    });

    private ServerAddress CurrentServer => _servers[_current];

    /// <summary>A key part stopped: the client ends, saying which and why.</summary>
    private void KeyPartStopped(IActorRef part)
    {
        var what = part.Equals(_transfers) ? "transfer table" : "partial files";
        var why = _lastFailure is { } e ? $"{e.GetType().Name}: {e.Message}" : "it stopped";
        _log.Error("the client's {0} failed ({1}); the client stops", what, why);
        End($"the client's {what} failed ({why})");
    }

    private bool IsKeyPart(IActorRef actor) => actor.Equals(_transfers) || actor.Equals(_partials);

    private bool IsSession(IActorRef actor) => actor.Equals(_session);

    /// <summary>A new session for the current server. Identities are the server's, whichever of its nodes vouches for
    /// them: partial files are tied to the server as configured (its first address), so a transfer resumes through
    /// another node.</summary>
    private void Connect()
    {
        _session = Context.ActorOf(ClientSessionActor.Props(_settings, CurrentServer, _resumeKey, _transfers, _partials,
            origin: _servers[0].Endpoint.ToString()), $"session-{++_sessionNumber}");
        Context.Watch(_session);
        Become(Connecting);
    }

    // ---------------------------------------------------------------- states

    /// <summary>A session is connecting and shaking hands; commands are answered as offline until it is welcomed.</summary>
    private void Connecting()
    {
        Receive<ClientMessages.Welcomed>(OnWelcomed);
        Receive<ClientMessages.Refused>(OnRefused);
        Receive<ClientMessages.CannotConnect>(c => OnConnectFailed(c.Failure));
        Receive<ClientMessages.Lost>(l => SessionOver(l.Reason, l.Reconnect));
        Receive<Terminated>(t => IsSession(t.ActorRef), _ => SessionFailed());
        Offline();
    }

    /// <summary>The session is online: commands that need the server go to it.</summary>
    private void Online()
    {
        Receive<ClientMessages.Lost>(l => SessionOver(l.Reason, l.Reconnect));
        Receive<Terminated>(t => IsSession(t.ActorRef), _ => SessionFailed());
        Receive<NodeCommands.Say>(s => _session!.Tell(new ClientMessages.Say(NewLine(null, s.Text))));
        Receive<NodeCommands.SayTo>(s => _session!.Tell(new ClientMessages.Say(NewLine(s.To, s.Text))));
        Receive<NodeCommands.Who>(w => _session!.Forward(w));
        Receive<NodeCommands.IServerRequest>(r => _session!.Forward(r));
        Receive<TransferMessages.StartSend>(spec => _session!.Forward(spec));
        Receive<NodeLifecycle.DrainChat>(d => _session!.Forward(d));
        Receive<NodeLifecycle.ListChat>(l => _session!.Forward(l));
        Receive<NodeLifecycle.Stop>(s =>
        {
            _stopRequester = Sender;
            _session!.Tell(new ClientMessages.Leave(s.Reason));
            Become(Leaving);
        });
        Common();
    }

    private void Backoff()
    {
        Receive<Reconnect>(_ => Connect());
        Offline();
    }

    /// <summary>The session is saying goodbye; the client stops with it.</summary>
    private void Leaving()
    {
        Receive<Terminated>(t => IsKeyPart(t.ActorRef), t => KeyPartStopped(t.ActorRef));
        Receive<Terminated>(t => IsSession(t.ActorRef), _ =>
        {
            _stopRequester?.Tell(NodeLifecycle.Stopped.Instance);
            Context.Stop(Self);
        });
        ReceiveAny(_ => { });
    }

    /// <summary>No session online: commands that need the server fail with an event; a stop request ends the client.</summary>
    private void Offline()
    {
        Receive<TransferMessages.StartSend>(spec => _transfers.Tell(new TransferMessages.SendRefused(spec.Id, "not connected to the server")));
        Receive<NodeCommands.Say>(s => NotSent(NewLine(null, s.Text)));
        Receive<NodeCommands.SayTo>(s => NotSent(NewLine(s.To, s.Text)));
        Receive<NodeCommands.Who>(_ => Context.System.EventStream.Publish(new ErrorOccurred("not connected to the server (reconnecting)")));
        Receive<NodeCommands.IServerRequest>(_ => Context.System.EventStream.Publish(new ErrorOccurred("not connected to the server (reconnecting)")));
        // Every line of an ended session has been answered: none is open.
        Receive<NodeLifecycle.DrainChat>(_ => Sender.Tell(NodeLifecycle.ChatDrained.Instance));
        Receive<NodeLifecycle.ListChat>(_ => Sender.Tell(new NodeLifecycle.ChatOpen(0)));
        Receive<NodeLifecycle.Stop>(_ =>
        {
            Sender.Tell(NodeLifecycle.Stopped.Instance);
            Context.Stop(Self);
        });
        Common();
    }

    private void Common()
    {
        Receive<Terminated>(t => IsKeyPart(t.ActorRef), t => KeyPartStopped(t.ActorRef));
        // A session released earlier has stopped.
        Receive<Terminated>(_ => { });
        Receive<NodeCommands.SendFile>(f => _transfers.Tell(new TransfersActor.Send(f.To?.Trim() is { Length: > 0 } to ? to : _serverName, f.Path)));
        Receive<NodeCommands.CancelTransfer>(c => _transfers.Forward(c));
        Receive<NodeCommands.AcceptTransfer>(c => _transfers.Forward(c));
        Receive<NodeCommands.RejectTransfer>(c => _transfers.Forward(c));
        Receive<NodeCommands.ListTransfers>(c => _transfers.Forward(c));
        Receive<NodeCommands.FreeName>(_ => Context.System.EventStream.Publish(new ErrorOccurred("only the server's operator frees a name (/free); /unregister lets go of your own")));
        Receive<NodeLifecycle.DrainOutgoing>(c => _transfers.Forward(c));
        Receive<NodeLifecycle.ListOutgoing>(c => _transfers.Forward(c));
        Receive<NodeLifecycle.AwaitReady>(_ =>
        {
            if (_startResult is not null) Sender.Tell(_startResult);
            else _readyWaiters.Add(Sender);
        });
    }

    // ---------------------------------------------------------------- a session's reports

    private void OnWelcomed(ClientMessages.Welcomed welcomed)
    {
        var (welcome, tls) = (welcomed.Welcome, welcomed.Tls);
        _everOnline = true;
        _attempt = 0;
        if (!welcome.ResumeKey.AsSpan().SequenceEqual(_resumeKey))
        {
            _resumeKey = welcome.ResumeKey;
            if (_keyLock is not null && !_state.WriteSecret(_keyFile, _resumeKey))
                _log.Warning("cannot keep the resume key in {0}: partial uploads can be resumed only until this client stops", _state.Path);
        }
        _serverName = welcome.ServerName;
        // Offers no faster than the server takes them (chat and who keep to its pace in the session).
        _transfers.Tell(new TransfersActor.PeerOfferRate(welcome.Limits.OffersPerSecond, welcome.Limits.OffersBurst));
        _log.Info("connected to {0} at {1} as {2}", _serverName, CurrentServer.Endpoint, welcome.YourName);
        // Online from this message on: whoever sees Connected and sends a command finds the client online. The session
        // holds the server's frames until it hears Proceed, so that no event of theirs comes before Connected.
        Become(Online);
        Context.System.EventStream.Publish(new Connected(_serverName, welcome.YourName, tls?.PeerFingerprint, tls?.Trust, welcome.Peers, welcome.Registered));
        Started(new NodeLifecycle.Ready(CurrentServer.Endpoint.Address.ToString(), CurrentServer.Endpoint.Port, welcome.YourName, _serverName));
        _session!.Tell(ClientMessages.Proceed.Instance);
    }

    private void OnRefused(ClientMessages.Refused refused)
    {
        var reason = $"refused by the server: {refused.Reason}";
        _log.Info(reason);
        // Transient: the server is full, or busy with connections from our address, or (a cluster) could not
        // confirm the name in time, e.g. while its name directory moves after a node was lost. Try again with
        // backoff once the server has closed this connection (the next node, if there are several).
        if (refused.Code is WireCode.ServerFull or WireCode.HandshakeTimeout && (_everOnline || _servers.Count > 1))
        {
            _refusal = reason;
            return;
        }
        // Before the first Welcome the refusal is the start's failure (NodeStartException); after it, an event.
        if (_everOnline) Context.System.EventStream.Publish(new ConnectionRefused(reason));
        Started(new NodeLifecycle.StartFailed(StartFailure.Refused, reason));
        End(reason);
    }

    /// <summary>The connection could not be made. A server we do not trust, or one that refused us before TLS for a
    /// reason that will not pass (it speaks without TLS), ends the client; anything else is a lost connection.</summary>
    private void OnConnectFailed(ConnectionMessages.ConnectFailed failed)
    {
        var transient = failed.Refusal is null or WireCode.ServerFull;
        if (failed.Trust is null && transient)
        {
            Lost(failed.Reason);
            return;
        }
        _log.Info(failed.Reason);
        if (_everOnline) Context.System.EventStream.Publish(new ConnectionRefused(failed.Reason));
        Started(failed.Trust is { } problem
            ? new NodeLifecycle.StartFailed(StartFailure.NotTrusted, failed.Reason, problem, failed.Fingerprint)
            : new NodeLifecycle.StartFailed(StartFailure.Refused, failed.Reason));
        End(failed.Reason);
    }

    /// <summary>The session reported its connection gone (it has answered its chat lines and told its transfers).</summary>
    private void SessionOver(string reason, bool reconnect) => Lost(_refusal ?? reason, reconnect);

    /// <summary>The session stopped without saying it was over: it failed. Its connection and transfers went with it;
    /// for the client that is a lost connection.</summary>
    private void SessionFailed()
    {
        _session = null;
        var why = _lastFailure is { } e ? $"{e.GetType().Name}: {e.Message}" : "it stopped";
        _log.Warning("the session with {0} failed ({1}); treating it as a lost connection", CurrentServer.Endpoint, why);
        Lost($"the session with the server failed ({why})");
    }

    /// <summary>Nothing more goes to a session that is over: it stops once its connection is gone. Only when the client
    /// goes on: a client that ends stops its session with it (a Release then would be a dead letter).</summary>
    private static void Release(IActorRef? session) => session?.Tell(ClientMessages.Release.Instance);

    // ---------------------------------------------------------------- chat

    /// <summary>The node's next line; its number is reported with it whatever becomes of it.</summary>
    private ChatOutbox.Line NewLine(string? to, string text) =>
        new(++_lastLine, to?.Trim() is { Length: > 0 } name ? name : null, text);

    private static void NotSent(ChatOutbox.Line line) =>
        Context.System.EventStream.Publish(new ChatNotSent(line.Number, line.To, line.Text, "not connected to the server (reconnecting)"));

    // ---------------------------------------------------------------- lost, reconnecting, ending

    /// <summary>The connection is gone. Before the first success that ends the client (start failed); after it,
    /// reconnect with backoff unless reconnecting is switched off.</summary>
    private void Lost(string reason, bool reconnect = true)
    {
        var over = _session;
        _session = null;
        _refusal = null;
        // Another node of the same server may be up: try it next (at once while starting, else after the backoff).
        var others = _servers.Count > 1;
        if (others)
        {
            _log.Info("{0} cannot be used ({1}); next: {2}", CurrentServer.Endpoint, reason, _servers[(_current + 1) % _servers.Count].Endpoint);
            _current = (_current + 1) % _servers.Count;
        }
        if (!_everOnline && others && ++_failedThisRound < _servers.Count)
        {
            Release(over);
            Connect();
            return;
        }
        if (!_everOnline)
        {
            Started(new NodeLifecycle.StartFailed(StartFailure.CannotConnect, reason));
            End(reason);
            return;
        }
        var willReconnect = _settings.Client.Reconnect && reconnect;
        // Offline from this message on: whoever sees Disconnected and sends a command hears that it could not go.
        Become(Backoff);
        Context.System.EventStream.Publish(new Disconnected(reason, willReconnect));
        if (!willReconnect)
        {
            End($"disconnected: {reason}");
            return;
        }
        Release(over);
        var delay = NextBackoff();
        _log.Info("connection lost ({0}); reconnecting in {1:0} ms", reason, delay.TotalMilliseconds);
        Timers.StartSingleTimer(nameof(Reconnect), Reconnect.Instance, delay);
    }

    private TimeSpan NextBackoff()
    {
        var min = _settings.Client.MinBackoff.TotalMilliseconds;
        var max = _settings.Client.MaxBackoff.TotalMilliseconds;
        var exponential = Math.Min(max, min * Math.Pow(2, Math.Min(_attempt, 30)));
        _attempt++;
        // +-20 % jitter so that many clients of a restarted server do not reconnect in lockstep.
        var jittered = exponential * (0.8 + (0.4 * Random.Shared.NextDouble()));
        return TimeSpan.FromMilliseconds(Math.Clamp(jittered, min, max));
    }

    /// <summary>The client ends by itself (refused, or disconnected for good): the reason is the node's exit reason,
    /// and stopping this actor shuts the node down (<see cref="RootWatcherActor"/>).</summary>
    private static void End(string reason)
    {
        NodeEnding.Get(Context.System).Record(new NodeExit(Failed: true, reason));
        Context.Stop(Context.Self);
    }

    private void Started(object result)
    {
        if (_startResult is not null) return;
        _startResult = result;
        foreach (var waiter in _readyWaiters) waiter.Tell(result);
        _readyWaiters.Clear();
    }
}
