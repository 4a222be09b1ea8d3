using System.Net;
using System.Runtime.InteropServices;
using System.Security.Cryptography;
using Akka.Actor;
using Akka.Event;
using Akka.IO;
using AkkaTcpTransfer.Protocol;
using AkkaTcpTransfer.Server.Federation;
using AkkaTcpTransfer.Server.Relay;
using AkkaTcpTransfer.Security;
using AkkaTcpTransfer.Settings;
using AkkaTcpTransfer.Tcp;
using AkkaTcp = Akka.IO.Tcp;

namespace AkkaTcpTransfer.Cluster;

/// <summary>Links between the server nodes of a cluster, for the bulk of what crosses them: relayed offers, chunks and
/// their answers. Akka.Remote carries everything else; measured on this project's benchmark, moving a relayed GiB through
/// it cost each of the two nodes about 2 core-s more than the relay itself (serialization, its envelope, its single
/// shared connection), which bounded a cross-node relay to 0.6x a same-node one.</summary>
/// <remarks>
/// <para>Every link runs on the same <see cref="ConnectionActor"/> as a client's connection: pulled reads, acknowledged
/// writes, a bounded send queue, pings and the idle timeout, goodbyes. On it, the link frames of docs/PROTOCOL.md
/// ("Between server nodes"): a <see cref="LinkHello"/> first (version and token key, checked before anything else is
/// read, within <c>server.handshake-timeout</c>), then <see cref="LinkMessage"/>s, each a message for one actor.</para>
/// <para>Each node listens on <c>cluster.link-port</c> and tells the others where (<see cref="ClusterMessages.NodeHello"/>);
/// each node opens its own outbound link to every other node, so a link carries one direction. Everything a relay on
/// this node sends to a session on another goes through the same link, in order (offer, chunks, done, cancel...).
/// Until a node's link address is known, messages go through Akka.Remote.</para>
/// <para>Bounds (reference.conf): a link holds at most <c>cluster.link-max-queue</c> bytes for the other node, takes at
/// most <c>cluster.link-max-inbound</c> links from others, and frames of at most <see cref="MaxFrame"/> bytes. A link
/// that breaks fails every relay that was using it at both ends; the next message opens a new one.</para>
/// <para>Supervision: links that fail are stopped, never restarted (a lost outbound link is made anew on demand).</para>
/// </remarks>
internal sealed class NodeLinksActor : ReceiveActor
{
    /// <summary>Tell <paramref name="Waiter"/> <see cref="Stats"/> once the link port is bound (at once if it is).</summary>
    public sealed record TellBound(IActorRef Waiter);

    /// <summary>The node at <paramref name="Node"/> takes links at <paramref name="Host"/>:<paramref name="Port"/>.</summary>
    public sealed record LinkAddress(Address Node, string Host, int Port);

    /// <summary>The node at <paramref name="Node"/> is gone: its link goes too.</summary>
    public sealed record NodeGone(Address Node);

    /// <summary>Answered with <see cref="Stats"/>.</summary>
    public sealed record GetStats
    {
        public static readonly GetStats Instance = new();
        private GetStats() { }
    }

    /// <param name="Port">The port this node takes links on (0 until bound).</param>
    /// <param name="MessagesSent">Messages sent through links since start.</param>
    public sealed record Stats(int Port, long MessagesSent, long MessagesReceived);

    /// <summary>The link frames' version (<see cref="LinkHello.Version"/>).</summary>
    internal const ushort Version = 1;

    /// <summary>Largest frame on a link: a relayed chunk (at most <see cref="RelayMessages.MaxRemoteChunk"/>) with its
    /// envelope, below the large-object heap.</summary>
    internal const int MaxFrame = RelayMessages.MaxRemoteChunk + 16 * 1024;

    private readonly ILoggingAdapter _log = Context.GetLogger();
    private readonly NodeSettings _linkSettings;
    private readonly byte[] _tokenKey;
    private readonly Dictionary<Address, IPEndPoint> _addresses = [];
    private readonly Dictionary<Address, IActorRef> _out = [];
    private readonly HashSet<IActorRef> _in = [];
    /// <summary>Messages the inbound links delivered (counted by them, read for <see cref="Stats"/>).</summary>
    private readonly long[] _delivered = new long[1];
    /// <summary>Addresses whose refused links were logged (once each).</summary>
    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, bool> _refused = new(StringComparer.Ordinal);
    private IActorRef? _bindWaiter;
    private int _port;
    private long _sent;

    /// <param name="identity">The cluster's key: links speak TLS with it both ways; null when the cluster runs in the clear.</param>
    public static Props Props(NodeSettings settings, byte[] tokenKey, ClusterIdentity? identity) =>
        Akka.Actor.Props.Create(() => new NodeLinksActor(settings, tokenKey, identity));

    /// <summary>What every link's connection runs with: the node's connection settings, with a link's frame limit and
    /// send queue.</summary>
    internal static NodeSettings LinkSettings(NodeSettings settings) => settings with
    {
        MaxFrameSize = MaxFrame,
        Connection = settings.Connection with { MaxSendQueue = settings.Cluster.LinkMaxQueue },
    };

    public NodeLinksActor(NodeSettings settings, byte[] tokenKey, ClusterIdentity? identity)
    {
        _linkSettings = LinkSettings(settings);
        _tokenKey = tokenKey;
        var host = settings.Cluster.LinkHost;
        var port = settings.Cluster.LinkPort;
        // The host was resolved to an address at start (ClusterPlugin). Pull mode, as for clients: each link reads only
        // when its connection actor asks.
        Context.System.Tcp().Tell(new AkkaTcp.Bind(Self, new IPEndPoint(IPAddress.Parse(host), port), pullMode: true));
        Receive<AkkaTcp.Bound>(b =>
        {
            _port = ((IPEndPoint)b.LocalAddress).Port;
            _bindWaiter?.Tell(new Stats(_port, 0, 0));
        });
        Receive<TellBound>(t =>
        {
            // The replica advertises the port to the other nodes.
            _bindWaiter = t.Waiter;
            if (_port > 0) t.Waiter.Tell(new Stats(_port, 0, 0));
        });
        Receive<AkkaTcp.CommandFailed>(f => _log.Error("cannot listen for node links on {0}:{1}: {2}; relays between nodes use Akka.Remote",
            host, port, f.CauseString));
        Receive<AkkaTcp.Connected>(c =>
        {
            // Links come from the few other nodes; a crowd of connections here is no cluster's.
            if (_in.Count >= settings.Cluster.LinkMaxInbound)
            {
                Sender.Tell(AkkaTcp.Abort.Instance);
                return;
            }
            var inbound = Context.ActorOf(InboundLinkActor.Props(Sender, c.RemoteAddress, _linkSettings, tokenKey, _delivered, identity, _refused));
            Context.Watch(inbound);
            _in.Add(inbound);
        });
        Receive<LinkAddress>(a =>
        {
            if (!IPAddress.TryParse(a.Host, out var address))
            {
                // Every node resolves its own link address at start; anything else stays on Akka.Remote.
                _log.Warning("node {0} gave '{1}' as its link address, not an IP address: relays to it stay on Akka.Remote", a.Node, a.Host);
                return;
            }
            var endpoint = new IPEndPoint(address, a.Port);
            if (_addresses.TryGetValue(a.Node, out var known) && known.Equals(endpoint)) return;
            _addresses[a.Node] = endpoint;
            if (_out.Remove(a.Node, out var stale)) stale.Tell(OutboundLinkActor.Retire.Instance);
        });
        Receive<RelayMessages.ViaNode>(v =>
        {
            var node = v.Target.Path.Address;
            if (!_addresses.TryGetValue(node, out var endpoint))
            {
                v.Target.Tell(v.Message, Sender);
                return;
            }
            if (!_out.TryGetValue(node, out var link))
            {
                link = Context.ActorOf(OutboundLinkActor.Props(endpoint, node, _linkSettings, tokenKey, identity));
                Context.Watch(link);
                _out[node] = link;
            }
            _sent++;
            link.Forward(v);
        });
        Receive<NodeGone>(g =>
        {
            _addresses.Remove(g.Node);
            if (_out.Remove(g.Node, out var link)) link.Tell(OutboundLinkActor.Retire.Instance);
        });
        Receive<OutboundLinkActor.LinkFailed>(f =>
        {
            if (_out.TryGetValue(f.Node, out var link) && link.Equals(Sender)) _out.Remove(f.Node);
            Sender.Tell(OutboundLinkActor.Retire.Instance);
        });
        Receive<Terminated>(t =>
        {
            _in.Remove(t.ActorRef);
            foreach (var (node, link) in _out.Where(kv => kv.Value.Equals(t.ActorRef)).ToList()) _out.Remove(node);
        });
        Receive<GetStats>(_ => Sender.Tell(new Stats(_port, _sent, Interlocked.Read(ref _delivered[0]))));
    }

    protected override SupervisorStrategy SupervisorStrategy() => new OneForOneStrategy(_ => Directive.Stop);
}

/// <summary>This node's link to one other node: a connection actor it opens, a <see cref="LinkHello"/>, then each message
/// it is given as a <see cref="LinkMessage"/>, in order. Until the connection is up, messages wait (within the link's
/// queue). When the link breaks, every relay that used it fails at both ends, and so does whatever still comes until
/// the parent, which has stopped sending here, retires it.</summary>
internal sealed class OutboundLinkActor : ReceiveActor
{
    /// <summary>Parent to a link: nothing more comes; stop once what came before is answered.</summary>
    public sealed class Retire
    {
        public static readonly Retire Instance = new();
    }

    /// <summary>Link to parent: broken; send no more (a new link is made for the next message).</summary>
    public sealed record LinkFailed(Address Node);

    private readonly ILoggingAdapter _log = Context.GetLogger();
    private readonly Address _node;
    private readonly long _maxQueue;
    private readonly ClusterSerializer _serializer;
    private readonly IActorRef _connection;
    private readonly List<(RelayMessages.ViaNode Message, IActorRef Sender, int Bytes)> _waiting = [];
    /// <summary>Relays that sent something over this link and have not ended: they fail if it breaks.</summary>
    private readonly HashSet<(IActorRef Sender, IActorRef Target, uint Id)> _relays = [];
    /// <summary>Actor paths as they go on the wire (one relay sends thousands of chunks between the same two actors).</summary>
    private readonly Dictionary<IActorRef, string> _paths = [];
    private long _waitingBytes;

    public static Props Props(IPEndPoint endpoint, Address node, NodeSettings linkSettings, byte[] tokenKey, ClusterIdentity? identity) =>
        Akka.Actor.Props.Create(() => new OutboundLinkActor(endpoint, node, linkSettings, tokenKey, identity));

    public OutboundLinkActor(IPEndPoint endpoint, Address node, NodeSettings linkSettings, byte[] tokenKey, ClusterIdentity? identity)
    {
        _node = node;
        _maxQueue = linkSettings.Connection.MaxSendQueue;
        _serializer = new ClusterSerializer((ExtendedActorSystem)Context.System);
        _connection = Context.ActorOf(ConnectionActor.Outgoing(endpoint, linkSettings,
            security: identity is null ? null : new ConnectionSecurity.Node(identity, Accepting: false)), "connection");
        Context.Watch(_connection);
        Receive<ConnectionMessages.Established>(_ =>
        {
            _connection.Tell(new ConnectionMessages.Send(new LinkHello(NodeLinksActor.Version, tokenKey)));
            _connection.Tell(ConnectionMessages.HandshakeDone.Instance);
            foreach (var (message, sender, _) in _waiting) Send(message, sender);
            _waiting.Clear();
            _waitingBytes = 0;
            Become(Open);
        });
        Receive<RelayMessages.ViaNode>(v =>
        {
            // Not up yet: the message waits, within the link's queue.
            var bytes = Size(v);
            if (_waitingBytes + bytes > _maxQueue)
            {
                Release(v);
                FailRelay(v, Sender, $"the link to node {_node} has more than {Text.Units.Bytes(_maxQueue)} waiting");
                return;
            }
            _waiting.Add((v, Sender, bytes));
            _waitingBytes += bytes;
        });
        Receive<ConnectionMessages.ConnectFailed>(f => Broken($"cannot connect the link to node {node}: {f.Reason}"));
        Common();
    }

    private void Open()
    {
        Receive<RelayMessages.ViaNode>(v => Send(v, Sender));
        Receive<ConnectionMessages.SendFailed>(f => _log.Warning("a message to node {0} could not be sent: {1}", _node, f.Reason));
        Receive<ConnectionMessages.FrameReceived>(f =>
            // A link carries one direction: the other node sends nothing on ours (its pings are consumed below us).
            _connection.Tell(new ConnectionMessages.Close(WireCode.ProtocolViolation, $"a node link carries nothing back, got {f.Frame.Type}")));
        Receive<ConnectionMessages.Delivered>(_ => Sender.Tell(ConnectionMessages.ReadMore.Instance));
        Receive<ConnectionMessages.Closed>(c => Broken($"the link to node {_node} closed: {c.Reason}"));
        Common();
    }

    private void Common()
    {
        Receive<Retire>(_ =>
        {
            _connection.Tell(new ConnectionMessages.Close(WireCode.Normal, "this node no longer links to yours"));
            Broken($"the link to node {_node} was closed");
        });
        Receive<Terminated>(t => t.ActorRef.Equals(_connection), _ => Broken($"the link to node {_node} stopped"));
    }

    /// <summary>Broken: whatever was waiting or in flight is lost, and each relay it belonged to fails at both ends; what
    /// still comes fails too, until the parent retires this link.</summary>
    private void Broken(string reason)
    {
        _log.Warning("{0}", reason);
        foreach (var (message, sender, _) in _waiting)
        {
            Release(message);
            FailRelay(message, sender, reason);
        }
        _waiting.Clear();
        foreach (var (sender, target, id) in _relays)
        {
            sender.Tell(new RelayMessages.RelayGone(id, reason));
            target.Tell(new RelayMessages.RelayGone(id, reason), sender);
        }
        _relays.Clear();
        Context.Parent.Tell(new LinkFailed(_node));
        _connection.Tell(ConnectionMessages.Release.Instance);
        Become(() =>
        {
            Receive<RelayMessages.ViaNode>(v =>
            {
                Release(v);
                FailRelay(v, Sender, reason);
            });
            Receive<Retire>(_ => Context.Stop(Self));
            ReceiveAny(_ => { });
        });
    }

    private void Send(RelayMessages.ViaNode v, IActorRef sender)
    {
        Track(v, sender);
        var manifest = _serializer.Manifest(v.Message);
        if (v.Message is RelayMessages.RelayFrame { Frame: Chunk chunk })
        {
            // A relayed chunk travels in its wire encoding: the link message's head ends with the chunk's header, and
            // its data follows from the buffer it arrived in (no copy; the connection releases it once written).
            var head = FrameEncoder.EncodeLinkMessageHead(manifest, PathOf(v.Target), PathOf(sender),
                FrameEncoder.EncodeChunkHeader(chunk.Id, chunk.Offset, chunk.Data.Length), chunk.Data.Length);
            _connection.Tell(new ConnectionMessages.SendWithTail(head, chunk));
            return;
        }
        _connection.Tell(new ConnectionMessages.Send(new LinkMessage(manifest, PathOf(v.Target), PathOf(sender), _serializer.ToBinary(v.Message))));
    }

    /// <summary>Remembers which relays use this link, and forgets those that ended.</summary>
    private void Track(RelayMessages.ViaNode v, IActorRef sender)
    {
        switch (v.Message)
        {
            case RelayMessages.RelayOffer o:
                _relays.Add((sender, v.Target, o.Offer.Id));
                break;
            case RelayMessages.RelayFrame { Frame: Verified or Fail or Cancel or Reject } f:
                _relays.Remove((sender, v.Target, f.Frame.Id));
                break;
            case RelayMessages.RelayFrame f:
                _relays.Add((sender, v.Target, f.Frame.Id));
                break;
            case RelayMessages.RelayGone g:
                _relays.Remove((sender, v.Target, g.Id));
                break;
        }
    }

    private string PathOf(IActorRef actor)
    {
        if (actor.IsNobody()) return "";
        if (_paths.TryGetValue(actor, out var path)) return path;
        if (_paths.Count > 4096) _paths.Clear();
        return _paths[actor] = Akka.Serialization.Serialization.SerializedActorPath(actor);
    }

    private static int Size(RelayMessages.ViaNode v) => v.Message is RelayMessages.RelayFrame { Frame: Chunk c } ? c.Data.Length + 256 : 1024;

    private static void Release(RelayMessages.ViaNode v) => ((v.Message as RelayMessages.RelayFrame)?.Frame as Chunk)?.Release();

    private static void FailRelay(RelayMessages.ViaNode v, IActorRef sender, string reason)
    {
        uint? id = v.Message switch
        {
            RelayMessages.RelayFrame f => f.Frame.Id,
            RelayMessages.RelayOffer o => o.Offer.Id,
            _ => null,
        };
        if (id is not { } relay) return;
        // Our side at once; the other side through Akka.Remote (its node may well be up).
        sender.Tell(new RelayMessages.RelayGone(relay, reason));
        v.Target.Tell(new RelayMessages.RelayGone(relay, reason), sender);
    }

    protected override SupervisorStrategy SupervisorStrategy() => new OneForOneStrategy(_ => Directive.Stop);
}

/// <summary>A link from another node: its connection actor, a <see cref="LinkHello"/> checked first (version and token
/// key, within <c>server.handshake-timeout</c>), then each <see cref="LinkMessage"/> handed to its target. A stranger
/// costs a connection and one frame: anything else first, a wrong key, or a message that cannot be read closes it.</summary>
internal sealed class InboundLinkActor : ReceiveActor, IWithTimers
{
    private sealed class HelloTimedOut
    {
        public static readonly HelloTimedOut Instance = new();
    }

    private readonly ILoggingAdapter _log = Context.GetLogger();
    private readonly IActorRef _connection;
    private readonly EndPoint _remote;
    private readonly byte[] _tokenKey;
    private readonly long[] _delivered;
    private readonly ClusterSerializer _serializer;
    private readonly Dictionary<string, IActorRef> _refs = new(StringComparer.Ordinal);
    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, bool> _refusedPeers;
    /// <summary>The link is open (its hello was right) or this actor closed it: a close is no refusal to report.</summary>
    private bool _settled;

    public ITimerScheduler Timers { get; set; } = null!;

    /// <param name="refused">The addresses a refusal was logged for, shared by the node's inbound links: each is logged
    /// once, not once per attempt.</param>
    public static Props Props(IActorRef tcp, EndPoint remote, NodeSettings linkSettings, byte[] tokenKey, long[] delivered, ClusterIdentity? identity,
        System.Collections.Concurrent.ConcurrentDictionary<string, bool> refused) =>
        Akka.Actor.Props.Create(() => new InboundLinkActor(tcp, remote, linkSettings, tokenKey, delivered, identity, refused));

    public InboundLinkActor(IActorRef tcp, EndPoint remote, NodeSettings linkSettings, byte[] tokenKey, long[] delivered, ClusterIdentity? identity,
        System.Collections.Concurrent.ConcurrentDictionary<string, bool> refused)
    {
        _remote = remote;
        _refusedPeers = refused;
        _tokenKey = tokenKey;
        _delivered = delivered;
        _serializer = new ClusterSerializer((ExtendedActorSystem)Context.System);
        _connection = Context.ActorOf(ConnectionActor.Accepted(tcp, remote, linkSettings,
            security: identity is null ? null : new ConnectionSecurity.Node(identity, Accepting: true)), "connection");
        Context.Watch(_connection);
        Timers.StartSingleTimer(nameof(HelloTimedOut), HelloTimedOut.Instance, linkSettings.Server.HandshakeTimeout);
        Receive<ConnectionMessages.FrameReceived>(f => f.Frame is LinkHello, f =>
        {
            var hello = (LinkHello)f.Frame;
            if (hello.Version != NodeLinksActor.Version || !CryptographicOperations.FixedTimeEquals(hello.TokenKey, _tokenKey))
            {
                Refuse("not a node of this cluster (another link version or token)");
                return;
            }
            Timers.Cancel(nameof(HelloTimedOut));
            _settled = true;
            _connection.Tell(ConnectionMessages.HandshakeDone.Instance);
            Become(Open);
        });
        Receive<ConnectionMessages.FrameReceived>(f => Refuse($"expected LinkHello first, got {f.Frame.Type}"));
        Receive<HelloTimedOut>(_ => Refuse($"no LinkHello within {Text.Units.Seconds(linkSettings.Server.HandshakeTimeout)}"));
        Common();
    }

    private void Open()
    {
        Receive<ConnectionMessages.FrameReceived>(f =>
        {
            if (f.Frame is not LinkMessage message)
            {
                Refuse($"a node link carries LinkMessage frames, got {f.Frame.Type}");
                return;
            }
            try
            {
                Deliver(message);
            }
            catch (Exception e) when (e is System.Runtime.Serialization.SerializationException or ProtocolException or InvalidCastException
                                           or ArgumentException or IndexOutOfRangeException)
            {
                Refuse($"a message that cannot be read: {e.Message}");
            }
        });
        Common();
    }

    private void Common()
    {
        Receive<ConnectionMessages.Delivered>(_ => Sender.Tell(ConnectionMessages.ReadMore.Instance));
        Receive<ConnectionMessages.Closed>(c =>
        {
            // Closed before its hello: the connection refused it (TLS without the cluster key, or no TLS at all).
            if (!_settled) Refused(c.Reason);
            _connection.Tell(ConnectionMessages.Release.Instance);
        });
        Receive<Terminated>(t => t.ActorRef.Equals(_connection), _ => Context.Stop(Self));
        Receive<HelloTimedOut>(_ => { });
    }

    private void Deliver(LinkMessage message)
    {
        var target = Resolve(message.Target) ?? throw new ArgumentException("no target");
        var sender = Resolve(message.Sender);
        var bytes = message.Payload;
        object payload;
        if (message.Manifest == "f" && bytes.Length > ProtocolLimits.FrameHeaderSize && MemoryMarshal.TryGetArray(bytes, out var segment))
        {
            // A relayed frame (the bulk) is parsed straight from its wire encoding, in place: a chunk's data stays where
            // the link's decoder put it, and the chunk takes over the array (released once written to its recipient).
            var frame = (TransferFrame)FrameDecoder.Parse((FrameType)bytes.Span[ProtocolLimits.FrameHeaderSize - 1],
                segment[ProtocolLimits.FrameHeaderSize..], message.Pooled);
            if (frame is not Chunk) message.Release();
            payload = new RelayMessages.RelayFrame(frame);
        }
        else
        {
            payload = _serializer.FromBinary(bytes.ToArray(), message.Manifest);
            message.Release();
        }
        // Only what nodes send one another may arrive this way: nothing else can be delivered to an actor of ours.
        if (payload is not (ICrossNodeMessage or IClusterMessage)) throw new ArgumentException($"{payload.GetType().Name} is not a message between nodes");
        target.Tell(payload, sender ?? ActorRefs.NoSender);
        Interlocked.Increment(ref _delivered[0]);
    }

    private IActorRef? Resolve(string path)
    {
        if (path.Length == 0) return null;
        if (_refs.TryGetValue(path, out var known)) return known;
        if (_refs.Count > 4096) _refs.Clear();
        var resolved = ((ExtendedActorSystem)Context.System).Provider.ResolveActorRef(path);
        _refs[path] = resolved;
        return resolved;
    }

    /// <summary>Logs why a link from this peer's address was refused, once per address (a refused node tries again and
    /// again, from new ports).</summary>
    private void Refused(string reason)
    {
        var peer = _remote is IPEndPoint ip ? ip.Address.ToString() : _remote.ToString() ?? "";
        // Bounded: strangers from many addresses cost a fresh start of the list, never memory.
        if (_refusedPeers.Count >= ClusterTls.MaxRemembered) _refusedPeers.Clear();
        if (_refusedPeers.TryAdd(peer, true))
            _log.Warning("refused a node link from {0}: {1} (logged once per address)", peer, reason);
    }

    /// <summary>Closes the link, saying why; nothing more it sends is read.</summary>
    private void Refuse(string reason)
    {
        _settled = true;
        Refused(reason);
        _connection.Tell(new ConnectionMessages.Close(WireCode.ProtocolViolation, reason));
        Timers.Cancel(nameof(HelloTimedOut));
        Become(() =>
        {
            Receive<ConnectionMessages.FrameReceived>(_ => { });
            Common();
        });
    }

    protected override SupervisorStrategy SupervisorStrategy() => new OneForOneStrategy(_ => Directive.Stop);
}
