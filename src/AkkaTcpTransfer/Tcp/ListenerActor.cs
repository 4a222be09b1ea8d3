using System.Diagnostics;
using System.Net;
using Akka.Actor;
using Akka.Event;
using Akka.IO;
using AkkaTcpTransfer.Protocol;
using AkkaTcpTransfer.Settings;
using static AkkaTcpTransfer.Tcp.ListenerMessages;

namespace AkkaTcpTransfer.Tcp;

/// <summary>Binds the server's listening socket with Akka.IO and decides, for every accepted connection, whether it
/// gets in: per-address limits and token backoff (<see cref="Admission"/>) and the node's file descriptors
/// (<see cref="DescriptorBudget"/>). Admitted connections get their own owner actor (made by <c>ownerProps</c>) as a
/// child; the others are refused at once with a reason (<see cref="RefusingConnectionActor"/>). Binds with SO_REUSEADDR
/// only (see <see cref="ReuseAddressOnly"/>), in pull mode (each connection reads only when its actor asks). A client
/// that came over a WebSocket (<see cref="ListenerMessages.AdoptWebSocket"/>) passes the same door: its socket actor
/// (<see cref="WebSocketSocketActor"/>, a child here) stands where Akka.IO's connection would.</summary>
/// <remarks>Supervision: a child that fails is stopped, never restarted, and never affects the listener or its
/// siblings; its connection closes with it.</remarks>
internal sealed class ListenerActor : ReceiveActor, IWithTimers
{
    private sealed class SweepAdmission
    {
        public static readonly SweepAdmission Instance = new();
    }

    public ITimerScheduler Timers { get; set; } = null!;

    private sealed record Child(IPAddress Address, bool Counted, TimeSpan Since)
    {
        public bool Admitted { get; set; }
        public bool Evicted { get; set; }
    }

    /// <summary>A connection still in its handshake after this long may be closed to make room for a new one when the
    /// server is out of descriptors.</summary>
    private static readonly TimeSpan EvictableAfter = TimeSpan.FromSeconds(1);

    private readonly ILoggingAdapter _log = Context.GetLogger();
    private readonly Func<IActorRef, EndPoint, Transport, Props> _ownerProps;
    private readonly Admission _admission;
    private readonly DescriptorBudget _descriptors;
    private readonly Dictionary<IActorRef, Child> _children = [];
    private readonly HashSet<IActorRef> _refusing = [];
    private readonly Stopwatch _clock = Stopwatch.StartNew();
    private IActorRef? _akkaListener;
    private IActorRef? _drainRequester;
    private bool _unbinding;
    private bool _outOfDescriptors;
    private long _accepted;
    private long _evictions;
    private long _webSockets;

    /// <summary>What carries a connection's bytes: a TCP socket (TLS inside it, unless the server runs without), or a
    /// WebSocket (whose TLS, if any, is the web server's: the connection inside it is plain).</summary>
    public enum Transport
    {
        Tcp,
        WebSocket,
    }

    public static Props Props(IPEndPoint endpoint, NodeSettings settings, Func<IActorRef, EndPoint, Transport, Props> ownerProps) =>
        Akka.Actor.Props.Create(() => new ListenerActor(endpoint, settings, ownerProps));

    public ListenerActor(IPEndPoint endpoint, NodeSettings settings, Func<IActorRef, EndPoint, Transport, Props> ownerProps)
    {
        _ownerProps = ownerProps;
        _admission = new Admission(settings.Server);
        _descriptors = DescriptorBudget.Get(Context.System);
        // Bind options reach every accepted connection too (AfterConnect). Pull mode: each connection reads only when
        // its ConnectionActor asks (ResumeReading), which is how a peer is slowed rather than buffered.
        Context.System.Tcp().Tell(new Akka.IO.Tcp.Bind(Self, endpoint, settings.Server.Backlog,
            options: [ReuseAddressOnly.Instance, new UnsentLowWatermark(settings.Connection.UnsentLowWatermark)], pullMode: true));
        Become(Binding);
    }

    protected override SupervisorStrategy SupervisorStrategy() => new OneForOneStrategy(_ => Directive.Stop);

    private void Binding()
    {
        Receive<Akka.IO.Tcp.Bound>(b =>
        {
            _akkaListener = Sender;
            Context.Parent.Tell(new Bound((IPEndPoint)b.LocalAddress));
            Timers.StartPeriodicTimer(nameof(SweepAdmission), SweepAdmission.Instance, TimeSpan.FromMinutes(1));
            Become(Listening);
        });
        Receive<Akka.IO.Tcp.CommandFailed>(f =>
        {
            var cause = f.Cause.HasValue ? f.Cause.Value.Message : "unknown reason";
            Context.Parent.Tell(new BindFailed(cause));
            Context.Stop(Self);
        });
        Receive<Drain>(_ =>
        {
            Sender.Tell(Drained.Instance);
            Context.Stop(Self);
        });
    }

    private void Listening()
    {
        Receive<Akka.IO.Tcp.Connected>(c => OnConnected(Sender, c.RemoteAddress, Transport.Tcp));
        Receive<AdoptWebSocket>(a =>
        {
            _webSockets++;
            var socket = Context.ActorOf(WebSocketSocketActor.Props(a.Socket, a.Done), $"websocket-{_webSockets}");
            // Watched only so that a drain sees the last of them go (they end with their connection's owner).
            Context.Watch(socket);
            OnConnected(socket, a.Remote, Transport.WebSocket);
        });
        Receive<Misbehaved>(m =>
        {
            if (m.Remote is IPEndPoint ip) _admission.Penalize(ip.Address, m.What, _clock.Elapsed);
        });
        Receive<Admitted>(_ =>
        {
            if (!_children.TryGetValue(Sender, out var child) || child.Admitted) return;
            child.Admitted = true;
            _admission.Admitted(child.Address);
        });
        Receive<Terminated>(t => ChildGone(t.ActorRef));
        Receive<SweepAdmission>(_ => _admission.Sweep(_clock.Elapsed));
        Receive<Drain>(d =>
        {
            _drainRequester = Sender;
            foreach (var child in Context.GetChildren()) child.Tell(new ShutdownNotice(d.Reason));
            Become(Draining);
            CheckDrained();
        });
    }

    private void OnConnected(IActorRef tcp, EndPoint remote, Transport transport)
    {
        var address = remote is IPEndPoint ip ? ip.Address : IPAddress.None;
        // The address's own limits first: a refused address must not make room by evicting someone else.
        if (_admission.Admit(address, _clock.Elapsed) is { } refusal)
        {
            Refuse(tcp, refusal.Code, refusal.Reason);
            return;
        }
        // A WebSocket's descriptor was taken when the web server accepted its TCP connection (WebClientServer).
        var counted = transport == Transport.Tcp;
        if (counted && !_descriptors.TryAcquireConnection() && !EvictOneForRoom())
        {
            _admission.Closed(address, admitted: false);
            if (!_outOfDescriptors)
            {
                _outOfDescriptors = true;
                _log.Warning("not admitting new connections: {0} of the {1} file descriptors this server may use are taken (limit {2}); admitting again when some are freed",
                    _descriptors.InUse, _descriptors.Capacity, _descriptors.ProcessLimit);
            }
            Refuse(tcp, WireCode.ServerFull, "the server is out of connections for now (file descriptors); try again later");
            return;
        }
        if (_outOfDescriptors)
        {
            _outOfDescriptors = false;
            _log.Warning("admitting new connections again ({0} of {1} file descriptors in use; {2} silent connections were closed to make room)",
                _descriptors.InUse, _descriptors.Capacity, _evictions);
        }
        _accepted++;
        var owner = Context.ActorOf(_ownerProps(tcp, remote, transport), $"peer-{_accepted}");
        Context.Watch(owner);
        _children[owner] = new Child(address, Counted: counted, _clock.Elapsed);
    }

    /// <summary>Out of descriptors: the connection that has been in its handshake longest (at least a second) is closed
    /// to make room, so that connections which never introduce themselves cannot keep everyone else out. Its descriptor
    /// is handed on at once; the reserve covers the moment both are open. False if there is none to close.</summary>
    private bool EvictOneForRoom()
    {
        var now = _clock.Elapsed;
        var oldest = _children.Where(kv => !kv.Value.Admitted && !kv.Value.Evicted && now - kv.Value.Since >= EvictableAfter)
            .OrderBy(kv => kv.Value.Since).Select(kv => kv.Key).FirstOrDefault();
        if (oldest is null) return false;
        var child = _children[oldest];
        child.Evicted = true;
        // The evicted child keeps its count until it stops; the newcomer takes a descriptor from the reserve meanwhile.
        _descriptors.ForceAcquire();
        oldest.Tell(new Evict("the server is short of connections, and this one had not completed its handshake"));
        _evictions++;
        return true;
    }

    /// <summary>Turns the connection away with a reason. Its socket is open for a moment (at most a second): it takes a
    /// descriptor from the reserve while it lasts, so that refusals too are counted.</summary>
    private void Refuse(IActorRef tcp, WireCode code, string reason)
    {
        _accepted++;
        _descriptors.ForceAcquire();
        var refuser = Context.ActorOf(RefusingConnectionActor.Props(tcp, code, reason), $"refused-{_accepted}");
        Context.Watch(refuser);
        _refusing.Add(refuser);
    }

    private void ChildGone(IActorRef actor)
    {
        if (_refusing.Remove(actor))
        {
            _descriptors.Release();
            return;
        }
        if (!_children.Remove(actor, out var child)) return;
        _admission.Closed(child.Address, child.Admitted);
        if (child.Counted) _descriptors.Release();
    }

    /// <summary>Closing every connection gracefully, then unbinding. The order matters: in Akka.NET 1.5.74 accepted
    /// connections are children of Akka's TcpListener, and Unbind stops it, which aborts (RST) every connection
    /// still open and loses the Goodbye we just queued.</summary>
    private void Draining()
    {
        Receive<Akka.IO.Tcp.Connected>(_ => Sender.Tell(Akka.IO.Tcp.Abort.Instance));
        Receive<AdoptWebSocket>(a =>
        {
            a.Socket.Abort();
            a.Done.TrySetResult();
        });
        Receive<Terminated>(t =>
        {
            ChildGone(t.ActorRef);
            CheckDrained();
        });
        Receive<Akka.IO.Tcp.Unbound>(_ =>
        {
            _drainRequester?.Tell(Drained.Instance);
            Context.Stop(Self);
        });
        Receive<Drain>(_ => _drainRequester = Sender);
        Receive<Misbehaved>(_ => { });
        Receive<SweepAdmission>(_ => { });
        Receive<Admitted>(_ => { });
    }

    private void CheckDrained()
    {
        if (_unbinding || Context.GetChildren().Any()) return;
        _unbinding = true;
        if (_akkaListener is not null)
        {
            _akkaListener.Tell(Akka.IO.Tcp.Unbind.Instance);
            return;
        }
        _drainRequester?.Tell(Drained.Instance);
        Context.Stop(Self);
    }
}
