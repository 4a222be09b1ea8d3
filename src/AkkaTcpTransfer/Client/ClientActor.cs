using System.Net;
using Akka.Actor;
using Akka.Event;
using AkkaTcpTransfer.Chat;
using AkkaTcpTransfer.Events;
using AkkaTcpTransfer.Hosting;
using AkkaTcpTransfer.Protocol;
using AkkaTcpTransfer.Security;
using AkkaTcpTransfer.Settings;
using AkkaTcpTransfer.Tcp;
using AkkaTcpTransfer.Transfer.Storage;
using AkkaTcpTransfer.Transfer;
using ErrorFrame = AkkaTcpTransfer.Protocol.Error;
using ChatFrame = AkkaTcpTransfer.Protocol.Chat;

namespace AkkaTcpTransfer.Client;

/// <summary>Root of a client node: connects (through a <see cref="ConnectionActor"/> child), runs the client half of
/// the handshake, turns commands into frames and frames into events, and reconnects with exponential backoff when
/// an established connection is lost. A refused handshake (bad token, name taken) or a first connection that cannot
/// be made ends the client: retrying would not help. Its resume key (its identity to the server: partial files of its
/// uploads belong to it) is kept in the state folder, one per server and name, and presented in every Hello.</summary>
/// <remarks>Supervision: the connection and the transfer actors are stopped on failure, never restarted: a stopped
/// connection is a lost connection (reconnect with backoff), a stopped transfer actor fails its transfer itself.</remarks>
internal sealed class ClientActor : ReceiveActor, IWithTimers
{
    private sealed class Reconnect
    {
        public static readonly Reconnect Instance = new();
    }

    private sealed class HandshakeTimedOut
    {
        public static readonly HandshakeTimedOut Instance = new();
    }

    /// <summary>The chat rate allows the next queued line.</summary>
    private sealed class ChatPaceOver
    {
        public static readonly ChatPaceOver Instance = new();
    }

    /// <summary>Time to say how many lines still wait (published at most this often while they drain).</summary>
    private sealed class ChatQueueReport
    {
        public static readonly ChatQueueReport Instance = new();
    }

    /// <summary>The who rate allows the who request that was asked for.</summary>
    private sealed class WhoPaceOver
    {
        public static readonly WhoPaceOver Instance = new();
    }

    private static readonly TimeSpan QueueReportInterval = TimeSpan.FromMilliseconds(250);

    private readonly ILoggingAdapter _log = Context.GetLogger();
    private readonly NodeSettings _settings;
    private readonly IReadOnlyList<ServerAddress> _servers;
    private int _current;
    private int _failedThisRound;
    private TlsSession? _tls;
    private readonly List<IActorRef> _readyWaiters = [];
    private readonly IActorRef _transfers;
    private readonly IActorRef _partials;
    private Exception? _lastFailure;
    private readonly TransferEndpoint _endpoint;
    private readonly StateFolder _state;
    private readonly string _keyFile;
    private readonly IDisposable? _keyLock;
    private readonly List<(IActorRef Connection, HashSet<IActorRef> Waiting)> _retiring = [];
    private object? _startResult;
    private IActorRef? _connection;
    private IActorRef? _stopRequester;
    private byte[] _resumeKey = [];
    private string _serverName = "";
    private string? _refusal;
    private bool _everOnline;
    private int _attempt;
    private int _connectionNumber;
    private readonly System.Diagnostics.Stopwatch _clock = System.Diagnostics.Stopwatch.StartNew();
    private readonly ChatOutbox _outbox;
    private long _lastLine;
    private int _reportedQueue;
    private readonly List<IActorRef> _chatDrainWaiters = [];
    /// <summary>The server's who rate, from its Welcome; a who asked for beyond it waits (several become one).</summary>
    private Limits.TokenBucket? _whoRate;
    private bool _whoWanted;

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

    private IPEndPoint _server;
    private ConnectionSecurity.Client? _security;

    public ClientActor(NodeSettings settings, IReadOnlyList<ServerAddress> servers)
    {
        if (servers.Count == 0) throw new ArgumentException("at least one server", nameof(servers));
        _settings = settings;
        _servers = servers;
        (_server, _security) = (servers[0].Endpoint, servers[0].Security);
        _transfers = Context.ActorOf(TransfersActor.Props(settings), "transfers");
        var partials = Context.ActorOf(PartialFilesActor.Props(settings.Downloads, settings.Transfer), "partials");
        _partials = partials;
        // The transfer table and the partial files are this node's own: without either it cannot send or receive.
        Context.Watch(_transfers);
        Context.Watch(partials);
        _transfers.Tell(new TransfersActor.UsePartials(partials));
        _endpoint = new TransferEndpoint(Context, settings, _transfers, partials, settings.Name);
        _outbox = new ChatOutbox(settings.Chat.SendQueue);
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

    /// <summary>Every child is stopped when it fails, never restarted: a connection (a lost connection: reconnect), a
    /// transfer actor (it fails its transfer), the transfer table or the partial files (the client ends, exit 1, naming
    /// it: they hold the node's transfers and disk reservations, which nothing else can rebuild).</summary>
    protected override SupervisorStrategy SupervisorStrategy() => new OneForOneStrategy(e =>
    {
        _lastFailure = e;
        return Directive.Stop;
    });

    /// <summary>A key part stopped: the client ends, saying which and why.</summary>
    private void KeyPartStopped(IActorRef part)
    {
        var what = part.Equals(_transfers) ? "transfer table" : "partial files";
        var why = _lastFailure is { } e ? $"{e.GetType().Name}: {e.Message}" : "it stopped";
        _log.Error("the client's {0} failed ({1}); the client stops", what, why);
        End($"the client's {what} failed ({why})");
    }

    private bool IsKeyPart(IActorRef actor) => actor.Equals(_transfers) || actor.Equals(_partials);

    private void Connect()
    {
        _connection = Context.ActorOf(ConnectionActor.Outgoing(_server, _settings, _security), $"connection-{++_connectionNumber}");
        Context.Watch(_connection);
        Become(Connecting);
    }

    // ---------------------------------------------------------------- states

    private void Connecting()
    {
        Receive<ConnectionMessages.Established>(e =>
        {
            _tls = e.Tls;
            PinIfNew(e.Tls);
            Send(new Hello(ProtocolLimits.Version, _settings.MaxFrameSize, _settings.Name, _settings.Token, _resumeKey));
            Timers.StartSingleTimer(nameof(HandshakeTimedOut), HandshakeTimedOut.Instance, _settings.Client.HandshakeTimeout);
            Become(Handshaking);
        });
        Receive<ConnectionMessages.ConnectFailed>(OnConnectFailed);
        Offline();
    }

    private void Handshaking()
    {
        Receive<ConnectionMessages.FrameReceived>(f => f.Frame is Welcome, f => OnWelcome((Welcome)f.Frame));
        Receive<ConnectionMessages.FrameReceived>(f => f.Frame is Refused, f =>
        {
            var refused = (Refused)f.Frame;
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
        });
        Receive<ConnectionMessages.FrameReceived>(f =>
            _connection?.Tell(new ConnectionMessages.Close(WireCode.ProtocolViolation, $"expected Welcome, got {f.Frame.Type}")));
        Receive<ConnectionMessages.Delivered>(_ => Sender.Tell(ConnectionMessages.ReadMore.Instance));
        Receive<HandshakeTimedOut>(_ => _connection?.Tell(new ConnectionMessages.Close(WireCode.HandshakeTimeout,
            $"no answer to the handshake within {_settings.Client.HandshakeTimeout.TotalSeconds:0.###} s")));
        Receive<ConnectionMessages.Closed>(c =>
        {
            Retire(Sender);
            Lost(_refusal ?? c.Reason);
        });
        Offline();
    }

    private void Online()
    {
        Receive<ConnectionMessages.FrameReceived>(f => OnFrame(f.Frame));
        // Replaced: a newer connection of this same identity took over, so another client of ours is running (from a
        // copy of this state folder, say). Reconnecting would only take the name back and start a tug of war.
        Receive<ConnectionMessages.Closed>(c =>
        {
            Retire(Sender);
            Lost(c.Reason, reconnect: c.PeerCode != WireCode.Replaced);
        });
        Receive<NodeCommands.Say>(s => Say(null, s.Text));
        Receive<NodeCommands.SayTo>(s => Say(s.To.Trim(), s.Text));
        Receive<ChatPaceOver>(_ => FlushChat());
        Receive<ChatQueueReport>(_ => ReportQueue());
        Receive<NodeCommands.Who>(_ =>
        {
            _whoWanted = true;
            FlushWho();
        });
        Receive<WhoPaceOver>(_ => FlushWho());
        Receive<TransferMessages.StartSend>(spec => _endpoint.StartSend(spec, _connection!, senderId: []));
        Receive<ConnectionMessages.SendFailed>(f => _log.Warning("a {0} frame could not be sent: {1}", f.Frame.Type, f.Reason));
        Receive<NodeLifecycle.Stop>(s =>
        {
            _stopRequester = Sender;
            ChatOver("not sent: the client stopped first", "not confirmed: the client stopped before the server answered");
            _endpoint.ConnectionLost("this client is stopping");
            _connection?.Tell(new ConnectionMessages.Close(WireCode.Normal, s.Reason));
            Become(Leaving);
        });
        Common();
    }

    private void Backoff()
    {
        Receive<Reconnect>(_ => Connect());
        Offline();
    }

    private void Leaving()
    {
        Receive<Terminated>(t => IsKeyPart(t.ActorRef), t => KeyPartStopped(t.ActorRef));
        Receive<ConnectionMessages.Closed>(_ => Retire(Sender));
        Receive<Terminated>(t => t.ActorRef.Equals(_connection), _ =>
        {
            _stopRequester?.Tell(NodeLifecycle.Stopped.Instance);
            Context.Stop(Self);
        });
        Receive<TransferMessages.Finished>(f =>
        {
            _endpoint.Finished(f);
            TransferGone(f.Transfer);
        });
        Receive<Terminated>(t =>
        {
            _endpoint.Terminated(t.ActorRef);
            TransferGone(t.ActorRef);
        });
        ReceiveAny(_ => { });
    }

    /// <summary>A connection that closed is let go once the transfers that were using it have ended (they were told
    /// ConnectionLost), so that nothing they sent it on the way is left to dead letters.</summary>
    private void Retire(IActorRef connection)
    {
        var waiting = new HashSet<IActorRef>(_endpoint.Actors);
        if (waiting.Count == 0) connection.Tell(ConnectionMessages.Release.Instance);
        else _retiring.Add((connection, waiting));
    }

    private void TransferGone(IActorRef transfer)
    {
        for (var i = _retiring.Count - 1; i >= 0; i--)
        {
            var (connection, waiting) = _retiring[i];
            if (!waiting.Remove(transfer) || waiting.Count > 0) continue;
            connection.Tell(ConnectionMessages.Release.Instance);
            _retiring.RemoveAt(i);
        }
    }

    /// <summary>Not connected: commands fail with an error event; a stop request ends the client.</summary>
    private void Offline()
    {
        Receive<TransferMessages.StartSend>(spec => _transfers.Tell(new TransferMessages.SendRefused(spec.Id, "not connected to the server")));
        Receive<NodeCommands.Say>(s => NotSent(new ChatOutbox.Line(++_lastLine, null, s.Text), "not connected to the server (reconnecting)"));
        Receive<NodeCommands.SayTo>(s => NotSent(new ChatOutbox.Line(++_lastLine, s.To.Trim(), s.Text), "not connected to the server (reconnecting)"));
        Receive<NodeCommands.Who>(_ => NotConnected());
        Receive<ChatPaceOver>(_ => { });
        Receive<ChatQueueReport>(_ => ReportQueue());
        Receive<WhoPaceOver>(_ => { });
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
        Receive<NodeCommands.SendFile>(f => _transfers.Tell(new TransfersActor.Send(f.To?.Trim() is { Length: > 0 } to ? to : _serverName, f.Path)));
        Receive<NodeCommands.CancelTransfer>(c => _transfers.Forward(c));
        Receive<NodeCommands.AcceptTransfer>(c => _transfers.Forward(c));
        Receive<NodeCommands.RejectTransfer>(c => _transfers.Forward(c));
        Receive<NodeCommands.ListTransfers>(c => _transfers.Forward(c));
        Receive<NodeLifecycle.DrainOutgoing>(c => _transfers.Forward(c));
        Receive<NodeLifecycle.ListOutgoing>(c => _transfers.Forward(c));
        Receive<NodeLifecycle.DrainChat>(_ =>
        {
            if (_outbox.Unconfirmed == 0) Sender.Tell(NodeLifecycle.ChatDrained.Instance);
            else _chatDrainWaiters.Add(Sender);
        });
        Receive<NodeLifecycle.ListChat>(_ => Sender.Tell(new NodeLifecycle.ChatOpen(_outbox.Unconfirmed)));
        Receive<NodeLifecycle.AwaitReady>(_ =>
        {
            if (_startResult is not null) Sender.Tell(_startResult);
            else _readyWaiters.Add(Sender);
        });
        Receive<Terminated>(t =>
        {
            _endpoint.Terminated(t.ActorRef);
            TransferGone(t.ActorRef);
        });
        Receive<TransferMessages.Finished>(f =>
        {
            _endpoint.Finished(f);
            TransferGone(f.Transfer);
        });
        Receive<ConnectionMessages.FrameReceived>(_ => { });
        Receive<ConnectionMessages.Delivered>(_ => Sender.Tell(ConnectionMessages.ReadMore.Instance));
        Receive<HandshakeTimedOut>(_ => { });
    }

    // ---------------------------------------------------------------- handlers

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
        _connection = null;
        _endpoint.ConnectionLost(failed.Reason);
        if (_everOnline) Context.System.EventStream.Publish(new ConnectionRefused(failed.Reason));
        Started(failed.Trust is { } problem
            ? new NodeLifecycle.StartFailed(StartFailure.NotTrusted, failed.Reason, problem, failed.Fingerprint)
            : new NodeLifecycle.StartFailed(StartFailure.Refused, failed.Reason));
        End(failed.Reason);
    }

    /// <summary>A key trusted on first use, or given with --fingerprint, is pinned for next time.</summary>
    private void PinIfNew(TlsSession? tls)
    {
        if (tls is not { PeerFingerprint: { } fingerprint, Trust: TrustBasis.FirstUse or TrustBasis.GivenFingerprint } || _security is null) return;
        var trust = _security.Trust;
        if (trust.Known.Find(trust.Server) is not null) return;
        if (trust.Known.Add(trust.Server, fingerprint))
            Context.System.EventStream.Publish(new ServerPinned(trust.Server, fingerprint, trust.Known.File));
        else
            _log.Warning("cannot write {0}: the server's key is not pinned for next time", trust.Known.File);
    }

    private void OnWelcome(Welcome welcome)
    {
        Timers.Cancel(nameof(HandshakeTimedOut));
        if (welcome.Version != ProtocolLimits.Version)
        {
            _connection?.Tell(new ConnectionMessages.Close(WireCode.UnsupportedVersion, $"server speaks protocol version {welcome.Version}"));
            return;
        }
        _everOnline = true;
        _attempt = 0;
        if (!welcome.ResumeKey.AsSpan().SequenceEqual(_resumeKey))
        {
            _resumeKey = welcome.ResumeKey;
            if (_keyLock is not null && !_state.WriteSecret(_keyFile, _resumeKey))
                _log.Warning("cannot keep the resume key in {0}: partial uploads can be resumed only until this client stops", _state.Path);
        }
        _serverName = welcome.ServerName;
        // Keep within what the server allows: chat lines and who requests leave at its pace, offers no faster than it takes.
        _outbox.Begin(welcome.Limits, _clock.Elapsed);
        _whoRate = new Limits.TokenBucket(welcome.Limits.WhoPerSecond, welcome.Limits.WhoBurst, _clock.Elapsed);
        _whoWanted = false;
        _transfers.Tell(new TransfersActor.PeerOfferRate(welcome.Limits.OffersPerSecond, welcome.Limits.OffersBurst));
        _connection?.Tell(new ConnectionMessages.PeerLimits(welcome.MaxFrameLength));
        _connection?.Tell(ConnectionMessages.HandshakeDone.Instance);
        _log.Info("connected to {0} at {1} as {2}", _serverName, _server, welcome.YourName);
        Context.System.EventStream.Publish(new Connected(_serverName, welcome.YourName, _tls?.PeerFingerprint, _tls?.Trust, welcome.Peers));
        Started(new NodeLifecycle.Ready(_server.Address.ToString(), _server.Port, welcome.YourName, _serverName));
        Become(Online);
    }

    private void OnFrame(Frame frame)
    {
        var events = Context.System.EventStream;
        switch (frame)
        {
            case ChatFrame c:
                events.Publish(new ChatReceived(c.From, c.To.Length == 0 ? null : c.To, c.Text, DateTimeOffset.FromUnixTimeMilliseconds(c.AtUnixMs)));
                break;
            case Protocol.PeerJoined j:
                events.Publish(new Events.PeerJoined(j.Name));
                break;
            case Protocol.PeerLeft l:
                events.Publish(new Events.PeerLeft(l.Name));
                break;
            case WhoReply w:
                events.Publish(new WhoListed(w.Names));
                break;
            case ErrorFrame e:
                events.Publish(new ErrorOccurred(e.Message));
                break;
            case SayAck ack:
                if (_outbox.Answered(ack.Id) is { } sent)
                {
                    events.Publish(new ChatSent(sent.Number, sent.To, sent.Text, DateTimeOffset.FromUnixTimeMilliseconds(ack.AtUnixMs)));
                    ChatAnswered();
                }
                break;
            case SayRefused refused:
                if (_outbox.Answered(refused.Id) is { } line)
                {
                    NotSent(line, refused.Reason);
                    ChatAnswered();
                }
                break;
            case Offer offer:
                // Identities are the server's, whichever of its nodes vouches for them now: partial files are tied to
                // the server as configured (its first address), so a transfer resumes through another node.
                _endpoint.Offer(offer, _connection!, _settings.MaxFrameSize - ProtocolLimits.ChunkOverhead, origin: _servers[0].Endpoint.ToString());
                break;
            case TransferFrame transfer:
                if (!_endpoint.Route(transfer)) _log.Debug("dropping {0} for unknown or finished transfer {1}", transfer.Type, TransferIds.Format(transfer.Id));
                break;
            default:
                _connection?.Tell(new ConnectionMessages.Close(WireCode.ProtocolViolation, $"a server may not send {frame.Type} frames here"));
                break;
        }
    }

    // ---------------------------------------------------------------- chat out

    /// <summary>A line to send: checked, numbered and queued; it leaves when the server's chat rate allows, and is
    /// reported once, when the server has answered (<see cref="ChatSent"/>) or when it cannot go (<see cref="ChatNotSent"/>).</summary>
    private void Say(string? to, string text)
    {
        var line = new ChatOutbox.Line(++_lastLine, string.IsNullOrEmpty(to) ? null : to, text);
        if (ChatText.Validate(text, _settings.Chat.MaxMessageBytes) is { } problem)
        {
            NotSent(line, problem.Reason);
            return;
        }
        if (!_outbox.TryEnqueue(line))
        {
            NotSent(line, $"not queued: {_settings.Chat.SendQueue} lines are already waiting to be sent (chat.send-queue)");
            return;
        }
        FlushChat();
    }

    /// <summary>Sends what the rate allows now and sets a timer for the rest.</summary>
    private void FlushChat()
    {
        var now = _clock.Elapsed;
        foreach (var line in _outbox.TakeReady(now)) Send(new Protocol.Say(line.WireId, line.To ?? "", line.Text));
        if (_outbox.NextIn(now) is { } wait) Timers.StartSingleTimer(nameof(ChatPaceOver), ChatPaceOver.Instance, wait);
        ReportQueue();
    }

    private void FlushWho()
    {
        if (!_whoWanted || _whoRate is null) return;
        var wait = _whoRate.WaitFor(_clock.Elapsed);
        if (wait > TimeSpan.Zero)
        {
            // Asked again while one waits: still one request (the answer lists everyone either way).
            if (!Timers.IsTimerActive(nameof(WhoPaceOver))) Timers.StartSingleTimer(nameof(WhoPaceOver), WhoPaceOver.Instance, wait);
            return;
        }
        _whoRate.TryTake(_clock.Elapsed);
        _whoWanted = false;
        Send(WhoRequest.Instance);
    }

    /// <summary>Publishes how many lines wait: at once when the queue starts or empties, else at most every
    /// <see cref="QueueReportInterval"/> (a paste draining line by line is not an event per line).</summary>
    private void ReportQueue()
    {
        var waiting = _outbox.Queued;
        if (waiting == _reportedQueue) return;
        if (waiting != 0 && _reportedQueue != 0)
        {
            if (!Timers.IsTimerActive(nameof(ChatQueueReport))) Timers.StartSingleTimer(nameof(ChatQueueReport), ChatQueueReport.Instance, QueueReportInterval);
            return;
        }
        _reportedQueue = waiting;
        Context.System.EventStream.Publish(new ChatQueue(waiting));
        if (waiting != 0) Timers.StartSingleTimer(nameof(ChatQueueReport), ChatQueueReport.Instance, QueueReportInterval);
    }

    private void ChatAnswered()
    {
        if (_outbox.Unconfirmed > 0) return;
        foreach (var waiter in _chatDrainWaiters) waiter.Tell(NodeLifecycle.ChatDrained.Instance);
        _chatDrainWaiters.Clear();
    }

    /// <summary>The session is over: every line the server has not answered is reported as not sent (queued) or not
    /// confirmed (sent: it may or may not have been passed on).</summary>
    private void ChatOver(string queuedReason, string sentReason)
    {
        var (sent, queued) = _outbox.TakeAll();
        foreach (var line in sent) NotSent(line, sentReason);
        foreach (var line in queued) NotSent(line, queuedReason);
        Timers.Cancel(nameof(ChatPaceOver));
        Timers.Cancel(nameof(WhoPaceOver));
        _whoRate = null;
        _whoWanted = false;
        ReportQueue();
        ChatAnswered();
    }

    private static void NotSent(ChatOutbox.Line line, string reason) =>
        Context.System.EventStream.Publish(new ChatNotSent(line.Number, line.To, line.Text, reason));

    private void Send(Frame frame) => _connection?.Tell(new ConnectionMessages.Send(frame));

    private static void NotConnected() =>
        Context.System.EventStream.Publish(new ErrorOccurred("not connected to the server (reconnecting)"));

    /// <summary>The connection is gone. Before the first success that ends the client (start failed); after it,
    /// reconnect with backoff unless reconnecting is switched off.</summary>
    private void Lost(string reason, bool reconnect = true)
    {
        Timers.Cancel(nameof(HandshakeTimedOut));
        ChatOver($"not sent: the connection to the server was lost ({reason})",
            $"not confirmed: the connection to the server was lost before it answered ({reason})");
        _connection = null;
        _refusal = null;
        _endpoint.ConnectionLost(reason);
        // Another node of the same server may be up: try it next (at once while starting, else after the backoff).
        var others = _servers.Count > 1;
        if (others)
        {
            _log.Info("{0} cannot be used ({1}); next: {2}", _server, reason, _servers[(_current + 1) % _servers.Count].Endpoint);
            _current = (_current + 1) % _servers.Count;
            (_server, _security) = (_servers[_current].Endpoint, _servers[_current].Security);
        }
        if (!_everOnline && others && ++_failedThisRound < _servers.Count)
        {
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
        Context.System.EventStream.Publish(new Disconnected(reason, willReconnect));
        if (!willReconnect)
        {
            End($"disconnected: {reason}");
            return;
        }
        var delay = NextBackoff();
        _log.Info("connection lost ({0}); reconnecting in {1:0} ms", reason, delay.TotalMilliseconds);
        Timers.StartSingleTimer(nameof(Reconnect), Reconnect.Instance, delay);
        Become(Backoff);
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
