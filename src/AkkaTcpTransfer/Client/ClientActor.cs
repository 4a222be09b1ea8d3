using System.Net;
using Akka.Actor;
using Akka.Event;
using AkkaTcpTransfer.Chat;
using AkkaTcpTransfer.Events;
using AkkaTcpTransfer.Protocol;
using AkkaTcpTransfer.Settings;
using AkkaTcpTransfer.Tcp;
using AkkaTcpTransfer.Transfer;
using ErrorFrame = AkkaTcpTransfer.Protocol.Error;
using ChatFrame = AkkaTcpTransfer.Protocol.Chat;

namespace AkkaTcpTransfer.Client;

/// <summary>Root of a client node: connects (through a <see cref="ConnectionActor"/> child), runs the client half of
/// the handshake, turns commands into frames and frames into events, and reconnects with exponential backoff when
/// an established connection is lost. A refused handshake (bad token, name taken) or a first connection that cannot
/// be made ends the client: retrying would not help.</summary>
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

    private readonly ILoggingAdapter _log = Context.GetLogger();
    private readonly NodeSettings _settings;
    private readonly IPEndPoint _server;
    private readonly List<IActorRef> _readyWaiters = [];
    private readonly IActorRef _transfers;
    private readonly TransferEndpoint _endpoint;
    private object? _startResult;
    private IActorRef? _connection;
    private IActorRef? _stopRequester;
    private byte[] _resumeKey = [];
    private string _serverName = "";
    private bool _everOnline;
    private int _attempt;
    private int _connectionNumber;

    public ITimerScheduler Timers { get; set; } = null!;

    public static Props Props(NodeSettings settings, IPEndPoint server) =>
        Akka.Actor.Props.Create(() => new ClientActor(settings, server));

    public ClientActor(NodeSettings settings, IPEndPoint server)
    {
        _settings = settings;
        _server = server;
        _transfers = Context.ActorOf(TransfersActor.Props(settings), "transfers");
        var partials = Context.ActorOf(PartialFilesActor.Props(settings.Downloads, settings.Transfer.FileIoDispatcher), "partials");
        _endpoint = new TransferEndpoint(Context, settings, _transfers, partials, settings.Name);
        Connect();
    }

    private void Connect()
    {
        _connection = Context.ActorOf(ConnectionActor.Outgoing(_server, _settings), $"connection-{++_connectionNumber}");
        Context.Watch(_connection);
        Become(Connecting);
    }

    // ---------------------------------------------------------------- states

    private void Connecting()
    {
        Receive<ConnectionMessages.Established>(_ =>
        {
            Send(new Hello(ProtocolLimits.Version, _settings.MaxFrameSize, _settings.Name, _settings.Token, _resumeKey));
            Timers.StartSingleTimer(nameof(HandshakeTimedOut), HandshakeTimedOut.Instance, _settings.Client.HandshakeTimeout);
            Become(Handshaking);
        });
        Receive<ConnectionMessages.ConnectFailed>(f => Lost(f.Reason));
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
            // Before the first Welcome the refusal is the start's failure (NodeStartException); after it, an event.
            if (_everOnline) Context.System.EventStream.Publish(new ConnectionRefused(reason));
            Started(new NodeLifecycle.StartFailed(StartFailure.Refused, reason));
            Context.Stop(Self);
        });
        Receive<ConnectionMessages.FrameReceived>(f =>
            _connection?.Tell(new ConnectionMessages.Close(WireCode.ProtocolViolation, $"expected Welcome, got {f.Frame.Type}")));
        Receive<HandshakeTimedOut>(_ => _connection?.Tell(new ConnectionMessages.Close(WireCode.HandshakeTimeout,
            $"no answer to the handshake within {_settings.Client.HandshakeTimeout.TotalSeconds:0.###} s")));
        Receive<ConnectionMessages.Closed>(c => Lost(c.Reason));
        Offline();
    }

    private void Online()
    {
        Receive<ConnectionMessages.FrameReceived>(f => OnFrame(f.Frame));
        Receive<ConnectionMessages.Closed>(c => Lost(c.Reason));
        Receive<NodeCommands.Say>(s => Say("", s.Text));
        Receive<NodeCommands.SayTo>(s => Say(s.To.Trim(), s.Text));
        Receive<NodeCommands.Who>(_ => Send(WhoRequest.Instance));
        Receive<TransferMessages.StartSend>(spec => _endpoint.StartSend(spec, _connection!));
        Receive<NodeLifecycle.Stop>(s =>
        {
            _stopRequester = Sender;
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
        Receive<ConnectionMessages.Closed>(_ => { });
        Receive<Terminated>(t => t.ActorRef.Equals(_connection), _ =>
        {
            _stopRequester?.Tell(NodeLifecycle.Stopped.Instance);
            Context.Stop(Self);
        });
        ReceiveAny(_ => { });
    }

    /// <summary>Not connected: commands fail with an error event; a stop request ends the client.</summary>
    private void Offline()
    {
        Receive<TransferMessages.StartSend>(spec => _transfers.Tell(new TransferMessages.SendRefused(spec.Id, "not connected to the server")));
        Receive<NodeCommands.Say>(_ => NotConnected());
        Receive<NodeCommands.SayTo>(_ => NotConnected());
        Receive<NodeCommands.Who>(_ => NotConnected());
        Receive<NodeLifecycle.Stop>(_ =>
        {
            Sender.Tell(NodeLifecycle.Stopped.Instance);
            Context.Stop(Self);
        });
        Common();
    }

    private void Common()
    {
        Receive<NodeCommands.SendFile>(f => _transfers.Tell(new TransfersActor.Send(f.To?.Trim() is { Length: > 0 } to ? to : _serverName, f.Path)));
        Receive<NodeCommands.CancelTransfer>(c => _transfers.Forward(c));
        Receive<NodeCommands.AcceptTransfer>(c => _transfers.Forward(c));
        Receive<NodeCommands.RejectTransfer>(c => _transfers.Forward(c));
        Receive<NodeCommands.ListTransfers>(c => _transfers.Forward(c));
        Receive<NodeLifecycle.DrainOutgoing>(c => _transfers.Forward(c));
        Receive<NodeLifecycle.AwaitReady>(_ =>
        {
            if (_startResult is not null) Sender.Tell(_startResult);
            else _readyWaiters.Add(Sender);
        });
        Receive<Terminated>(t => { _endpoint.Terminated(t.ActorRef); });
        Receive<ConnectionMessages.FrameReceived>(_ => { });
        Receive<HandshakeTimedOut>(_ => { });
    }

    // ---------------------------------------------------------------- handlers

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
        _resumeKey = welcome.ResumeKey;
        _serverName = welcome.ServerName;
        _connection?.Tell(new ConnectionMessages.PeerLimits(welcome.MaxFrameLength));
        _log.Info("connected to {0} at {1} as {2}", _serverName, _server, welcome.YourName);
        Context.System.EventStream.Publish(new Connected(_serverName, welcome.YourName));
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
            case Offer offer:
                _endpoint.Offer(offer, _connection!, _settings.MaxFrameSize - ProtocolLimits.ChunkOverhead);
                break;
            case TransferFrame transfer:
                if (!_endpoint.Route(transfer)) _log.Debug("dropping {0} for unknown or finished transfer {1}", transfer.Type, TransferIds.Format(transfer.Id));
                break;
            default:
                _connection?.Tell(new ConnectionMessages.Close(WireCode.ProtocolViolation, $"a server may not send {frame.Type} frames here"));
                break;
        }
    }

    private void Say(string to, string text)
    {
        if (ChatText.Validate(text, _settings.Chat.MaxMessageBytes) is { } problem)
        {
            Context.System.EventStream.Publish(new ErrorOccurred(problem.Reason));
            return;
        }
        Send(new Protocol.Say(to, text));
    }

    private void Send(Frame frame) => _connection?.Tell(new ConnectionMessages.Send(frame));

    private static void NotConnected() =>
        Context.System.EventStream.Publish(new ErrorOccurred("not connected to the server (reconnecting)"));

    /// <summary>The connection is gone. Before the first success that ends the client (start failed); after it,
    /// reconnect with backoff unless reconnecting is switched off.</summary>
    private void Lost(string reason)
    {
        Timers.Cancel(nameof(HandshakeTimedOut));
        _connection = null;
        _endpoint.ConnectionLost(reason);
        if (!_everOnline)
        {
            Started(new NodeLifecycle.StartFailed(StartFailure.CannotConnect, reason));
            Context.Stop(Self);
            return;
        }
        var willReconnect = _settings.Client.Reconnect;
        Context.System.EventStream.Publish(new Disconnected(reason, willReconnect));
        if (!willReconnect)
        {
            Context.Stop(Self);
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

    private void Started(object result)
    {
        if (_startResult is not null) return;
        _startResult = result;
        foreach (var waiter in _readyWaiters) waiter.Tell(result);
        _readyWaiters.Clear();
    }
}
