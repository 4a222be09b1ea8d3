using System.Net;
using System.Security.Cryptography;
using System.Text;
using Akka.Actor;
using Akka.Event;
using AkkaTcpTransfer.Protocol;
using AkkaTcpTransfer.Settings;
using AkkaTcpTransfer.Tcp;
using AkkaTcpTransfer.Transfer;
using ErrorFrame = AkkaTcpTransfer.Protocol.Error;

namespace AkkaTcpTransfer.Chat;

/// <summary>The server's side of one client: owns that client's <see cref="ConnectionActor"/>, runs the server half
/// of the handshake (version, token, name), then turns the client's frames into registry requests and the
/// registry's answers into frames. Transfers with the server itself are its children (<see cref="TransferEndpoint"/>);
/// transfers between this client and another pass through its <see cref="RelayTable"/>. Lives as long as its
/// connection, plus the moment its transfers need to wind down.</summary>
internal sealed class PeerActor : ReceiveActor, IWithTimers, IWithUnboundedStash
{
    private sealed class HandshakeTimedOut
    {
        public static readonly HandshakeTimedOut Instance = new();
    }

    private sealed class WindDownTimedOut
    {
        public static readonly WindDownTimedOut Instance = new();
    }

    private readonly ILoggingAdapter _log = Context.GetLogger();
    private readonly NodeSettings _settings;
    private readonly IActorRef _registry;
    private readonly EndPoint _remote;
    private readonly IActorRef _connection;
    private readonly IActorRef _transfers;
    private readonly TransferEndpoint _endpoint;
    private readonly RelayTable _relays;
    private string _name = "";
    private string? _closeReason;

    public ITimerScheduler Timers { get; set; } = null!;

    public IStash Stash { get; set; } = null!;

    public static Props Props(IActorRef tcpConnection, EndPoint remote, NodeSettings settings, IActorRef registry, IActorRef transfers, IActorRef partials) =>
        Akka.Actor.Props.Create(() => new PeerActor(tcpConnection, remote, settings, registry, transfers, partials));

    public PeerActor(IActorRef tcpConnection, EndPoint remote, NodeSettings settings, IActorRef registry, IActorRef transfers, IActorRef partials)
    {
        _settings = settings;
        _registry = registry;
        _remote = remote;
        _transfers = transfers;
        _connection = Context.ActorOf(ConnectionActor.Accepted(tcpConnection, remote, settings), "connection");
        Context.Watch(_connection);
        _endpoint = new TransferEndpoint(Context, settings, transfers, partials, settings.Name);
        _relays = new RelayTable(Context, settings, registry);
        Become(AwaitingHello);
    }

    protected override void PreStart() =>
        Timers.StartSingleTimer(nameof(HandshakeTimedOut), HandshakeTimedOut.Instance, _settings.Server.HandshakeTimeout);

    private void AwaitingHello()
    {
        Receive<ConnectionMessages.FrameReceived>(f => f.Frame is Hello, f => OnHello((Hello)f.Frame));
        Receive<ConnectionMessages.FrameReceived>(f => Refuse(WireCode.ProtocolViolation, $"expected Hello first, got {f.Frame.Type}"));
        CommonWhileHandshaking();
    }

    private void Joining()
    {
        Receive<SessionMessages.Joined>(OnJoined);
        Receive<SessionMessages.JoinRefused>(r => Refuse(r.Code, r.Reason));
        // The registry has sent the Welcome; a quick client may answer before Joined reaches us. Keep its frames.
        Receive<ConnectionMessages.FrameReceived>(_ => Stash.Stash());
        CommonWhileHandshaking();
    }

    private void CommonWhileHandshaking()
    {
        Receive<HandshakeTimedOut>(_ => Refuse(WireCode.HandshakeTimeout,
            $"no handshake within {_settings.Server.HandshakeTimeout.TotalSeconds:0.###} s"));
        Receive<ListenerMessages.ShutdownNotice>(n => Close(WireCode.ServerShutdown, n.Reason));
        CommonAlways();
    }

    private void Online()
    {
        Receive<ConnectionMessages.FrameReceived>(f => OnFrame(f.Frame));
        Receive<SessionMessages.WhoResult>(w => _connection.Tell(new ConnectionMessages.Send(new WhoReply(w.Names))));
        Receive<SessionMessages.SayFailed>(f => _connection.Tell(new ConnectionMessages.Send(new ErrorFrame(f.Code, f.Reason))));
        Receive<SessionMessages.Replaced>(_ => Close(WireCode.Replaced, "this client reconnected on a new connection"));
        Receive<ListenerMessages.ShutdownNotice>(n => Close(WireCode.ServerShutdown, n.Reason));
        Receive<TransferMessages.StartSend>(spec => _endpoint.StartSend(spec, _connection));
        Receive<RelayMessages.RelayOffer>(o => _relays.OnRelayOffer(o, _endpoint.Owns(o.Offer.Id)));
        Receive<RelayMessages.RelayFrame>(_relays.OnRelayFrame);
        Receive<RelayMessages.RelayGone>(_relays.OnGone);
        Receive<SessionMessages.LookupResult>(_relays.OnLookup);
        CommonAlways();
    }

    private void Closing()
    {
        Receive<ConnectionMessages.FrameReceived>(_ => { });
        Receive<SessionMessages.Joined>(_ => { });
        Receive<SessionMessages.JoinRefused>(_ => { });
        Receive<SessionMessages.WhoResult>(_ => { });
        Receive<SessionMessages.SayFailed>(_ => { });
        Receive<SessionMessages.Replaced>(_ => { });
        Receive<HandshakeTimedOut>(_ => { });
        Receive<ListenerMessages.ShutdownNotice>(_ => { });
        NotTakingTransfers();
        CommonAlways();
    }

    /// <summary>The connection is gone; the transfer children are handling ConnectionLost (a receiver parks its
    /// partial file for a resume). Stop once they have, or after a grace period.</summary>
    private void WindingDown()
    {
        Receive<Terminated>(t =>
        {
            _endpoint.Terminated(t.ActorRef);
            if (!Context.GetChildren().Any()) Context.Stop(Self);
        });
        Receive<WindDownTimedOut>(_ => Context.Stop(Self));
        NotTakingTransfers();
        ReceiveAny(_ => { });
    }

    private void NotTakingTransfers()
    {
        Receive<TransferMessages.StartSend>(spec => _transfers.Tell(new TransferMessages.SendRefused(spec.Id, $"{DisplayName} disconnected")));
        Receive<RelayMessages.RelayOffer>(o => o.SenderPeer.Tell(new RelayMessages.RelayFrame(new Reject(o.Offer.Id, $"{DisplayName} disconnected"))));
    }

    private string DisplayName => _name.Length > 0 ? _name : _remote.ToString()!;

    private void CommonAlways()
    {
        Receive<ConnectionMessages.Closed>(c =>
        {
            _closeReason = c.Reason;
            if (_name.Length > 0) _log.Info("{0} ({1}) disconnected: {2}", _name, _remote, c.Reason);
            else _log.Debug("{0} disconnected before joining: {1}", _remote, c.Reason);
        });
        Receive<Terminated>(t => t.ActorRef.Equals(_connection), _ => ConnectionGone());
        Receive<Terminated>(t => { _endpoint.Terminated(t.ActorRef); });
    }

    private void ConnectionGone()
    {
        var reason = _closeReason ?? "connection closed";
        _relays.ClientGone(reason);
        _endpoint.ConnectionLost(reason);
        _registry.Tell(SessionMessages.Leave.Instance);
        if (!Context.GetChildren().Any())
        {
            Context.Stop(Self);
            return;
        }
        Timers.StartSingleTimer(nameof(WindDownTimedOut), WindDownTimedOut.Instance, TimeSpan.FromSeconds(10));
        Become(WindingDown);
    }

    private void OnHello(Hello hello)
    {
        if (hello.Version != ProtocolLimits.Version)
        {
            Refuse(WireCode.UnsupportedVersion, $"protocol version {hello.Version} is not supported; this server speaks version {ProtocolLimits.Version}");
            return;
        }
        if (!TokenMatches(hello.Token))
        {
            Refuse(WireCode.BadToken, hello.Token.Length == 0 ? "this server requires a token" : "wrong token");
            return;
        }
        var name = hello.Name.Trim();
        if (name.Length == 0 || PeerNames.Validate(name) is not null)
        {
            Refuse(WireCode.InvalidName, name.Length == 0 ? "a name is required" : $"invalid name: {PeerNames.Validate(name)}");
            return;
        }
        if (hello.MaxFrameLength < 1024)
        {
            Refuse(WireCode.ProtocolViolation, $"a frame limit of {hello.MaxFrameLength} bytes is too small (at least 1024)");
            return;
        }
        _connection.Tell(new ConnectionMessages.PeerLimits(hello.MaxFrameLength));
        _registry.Tell(new SessionMessages.Join(name, hello.ResumeKey, _connection, hello.MaxFrameLength));
        Become(Joining);
    }

    private bool TokenMatches(string presented)
    {
        if (_settings.Token.Length == 0) return true;
        return CryptographicOperations.FixedTimeEquals(Encoding.UTF8.GetBytes(presented), Encoding.UTF8.GetBytes(_settings.Token));
    }

    private void OnJoined(SessionMessages.Joined joined)
    {
        Timers.Cancel(nameof(HandshakeTimedOut));
        _name = joined.Name;
        _relays.Attach(_connection, _name);
        _log.Info("{0} joined from {1}", _name, _remote);
        Become(Online);
        Stash.UnstashAll();
    }

    private void OnFrame(Frame frame)
    {
        switch (frame)
        {
            case Protocol.Say say:
                OnSay(say);
                break;
            case WhoRequest:
                _registry.Tell(SessionMessages.Who.Instance);
                break;
            case Offer offer when offer.To.Length == 0 || PeerNames.Comparer.Equals(offer.To, _settings.Name):
                // For the server itself. The sender is who this connection authenticated, whatever the frame says.
                _endpoint.Offer(offer with { From = _name, To = _settings.Name }, _connection, _settings.MaxFrameSize - ProtocolLimits.ChunkOverhead);
                break;
            case Offer offer:
                _relays.BeginOffer(offer);
                break;
            case TransferFrame transfer:
                if (!_endpoint.Route(transfer) && !_relays.OnClientFrame(transfer))
                    _log.Debug("{0}: dropping {1} for unknown or finished transfer {2}", _name, transfer.Type, TransferIds.Format(transfer.Id));
                break;
            default:
                Close(WireCode.ProtocolViolation, $"a client may not send {frame.Type} frames");
                break;
        }
    }

    private void OnSay(Protocol.Say say)
    {
        var problem = ChatText.Validate(say.Text, _settings.Chat.MaxMessageBytes);
        if (problem is not null)
        {
            _connection.Tell(new ConnectionMessages.Send(new ErrorFrame(problem.Value.Code, problem.Value.Reason)));
            return;
        }
        _registry.Tell(new SessionMessages.Say(_name, say.To.Trim(), say.Text));
    }

    private void Refuse(WireCode code, string reason)
    {
        _log.Info("refusing {0}: {1}", _remote, reason);
        _connection.Tell(new ConnectionMessages.Send(new Refused(code, reason)));
        Close(code, reason);
    }

    private void Close(WireCode code, string reason)
    {
        _connection.Tell(new ConnectionMessages.Close(code, reason));
        Become(Closing);
    }
}
