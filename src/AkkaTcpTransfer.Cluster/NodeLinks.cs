using System.Buffers.Binary;
using System.Net;
using System.Security.Cryptography;
using System.Text;
using Akka.Actor;
using Akka.Event;
using Akka.IO;
using AkkaTcp = Akka.IO.Tcp;
using AkkaTcpTransfer.Protocol;
using AkkaTcpTransfer.Server;
using AkkaTcpTransfer.Server.Relay;
using AkkaTcpTransfer.Server.Federation;

namespace AkkaTcpTransfer.Cluster;

/// <summary>Plain TCP links between the server nodes of a cluster, for the bulk of what crosses them: relayed offers,
/// chunks and their answers. Akka.Remote carries everything else; measured on this project's benchmark, moving a
/// relayed GiB through it cost each of the two nodes about 2 core-s more than the relay itself (serialization, its
/// envelope, its single shared connection), which bounded a cross-node relay to 0.6x a same-node one.</summary>
/// <remarks>
/// <para>Each node listens on <c>cluster.link-port</c> and tells the others where (<see cref="ClusterMessages.NodeHello"/>);
/// each node opens its own outbound link to every other node, so a link carries one direction. Everything a relay on
/// this node sends to a session on another goes through the same link, in order (offer, chunks, done, cancel...).
/// Until a node's link address is known, messages go through Akka.Remote as before.</para>
/// <para>On the link: first a hello, <c>"AKTL"</c>, a u16 version, and the 32-byte token key (<see cref="ClusterKeys.TokenKey"/>),
/// which the receiver checks before it reads anything else (within 5 s). Then messages, each: u32 length of the rest,
/// u8 manifest length, the <see cref="ClusterSerializer"/> manifest, u16 + the target actor's path, u16 + the sender's
/// path (0: none), then the serializer's bytes. Big-endian, UTF-8.</para>
/// <para>Bounds: a link queues at most <c>cluster.link-max-queue</c> bytes (relay windows keep it far below); a message
/// that would pass it fails its relay at both ends, as does everything queued on a link that breaks (the link is
/// opened again for what comes next). An inbound message longer than <see cref="MaxMessage"/> ends that link.</para>
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

    internal const int Version = 1;
    internal const int MaxMessage = 2 * 1024 * 1024;

    /// <summary>Inbound links at once (each other node opens one).</summary>
    private const int MaxInbound = 256;
    internal static readonly byte[] Magic = "AKTL"u8.ToArray();
    internal static int HelloLength => Magic.Length + 2 + 32;

    private readonly ILoggingAdapter _log = Context.GetLogger();
    private readonly byte[] _tokenKey;
    private readonly long _maxQueue;
    private IActorRef? _bindWaiter;
    private readonly Dictionary<Address, IPEndPoint> _addresses = [];
    private readonly Dictionary<Address, IActorRef> _out = [];
    private int _port;
    private long _sent;
    /// <summary>Messages the inbound links delivered (counted by them, read for <see cref="Stats"/>).</summary>
    private readonly long[] _delivered = new long[1];

    public static Props Props(string host, int port, byte[] tokenKey, long maxQueue) =>
        Akka.Actor.Props.Create(() => new NodeLinksActor(host, port, tokenKey, maxQueue));

    public NodeLinksActor(string host, int port, byte[] tokenKey, long maxQueue)
    {
        _tokenKey = tokenKey;
        _maxQueue = maxQueue;
        // The host was resolved to an address at start (ServerNode).
        Context.System.Tcp().Tell(new AkkaTcp.Bind(Self, new IPEndPoint(IPAddress.Parse(host), port)));
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
        Receive<AkkaTcp.Connected>(_ =>
        {
            var tcp = Sender;
            // Links come from the few other nodes; a crowd of connections here is no cluster's.
            if (Context.GetChildren().Count() - _out.Count >= MaxInbound)
            {
                tcp.Tell(AkkaTcp.Abort.Instance);
                return;
            }
            var inbound = Context.ActorOf(Akka.Actor.Props.Create(() => new InboundLink(tokenKey, tcp, _delivered)));
            tcp.Tell(new AkkaTcp.Register(inbound));
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
            if (_out.Remove(a.Node, out var stale)) stale.Tell(Retire.Instance);
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
                link = Context.ActorOf(Akka.Actor.Props.Create(() => new OutboundLink(endpoint, node, tokenKey, maxQueue)));
                Context.Watch(link);
                _out[node] = link;
            }
            _sent++;
            link.Forward(v);
        });
        Receive<NodeGone>(g =>
        {
            _addresses.Remove(g.Node);
            if (_out.Remove(g.Node, out var link)) link.Tell(Retire.Instance);
        });
        Receive<LinkFailed>(f =>
        {
            if (_out.TryGetValue(f.Node, out var link) && link.Equals(Sender)) _out.Remove(f.Node);
            Sender.Tell(Retire.Instance);
        });
        Receive<Terminated>(t =>
        {
            foreach (var (node, link) in _out.Where(kv => kv.Value.Equals(t.ActorRef)).ToList()) _out.Remove(node);
        });
        Receive<GetStats>(_ => Sender.Tell(new Stats(_port, _sent, Interlocked.Read(ref _delivered[0]))));
    }

    protected override SupervisorStrategy SupervisorStrategy() => new OneForOneStrategy(_ => Directive.Stop);

    /// <summary>The header of one message on a link (its length prefix counts <paramref name="payloadLength"/> more bytes,
    /// which follow it): manifest, target path, sender path, each as given in UTF-8.</summary>
    internal static byte[] Header(byte[] manifest, byte[] target, byte[] sender, int payloadLength)
    {
        var length = 1 + manifest.Length + 2 + target.Length + 2 + sender.Length + payloadLength;
        var bytes = new byte[4 + length - payloadLength];
        var span = bytes.AsSpan();
        BinaryPrimitives.WriteUInt32BigEndian(span, (uint)length);
        var at = 4;
        span[at++] = (byte)manifest.Length;
        manifest.CopyTo(span[at..]);
        at += manifest.Length;
        BinaryPrimitives.WriteUInt16BigEndian(span[at..], (ushort)target.Length);
        target.CopyTo(span[(at += 2)..]);
        at += target.Length;
        BinaryPrimitives.WriteUInt16BigEndian(span[at..], (ushort)sender.Length);
        sender.CopyTo(span[(at + 2)..]);
        return bytes;
    }

    internal static byte[] Hello(byte[] tokenKey)
    {
        var hello = new byte[HelloLength];
        Magic.CopyTo(hello, 0);
        BinaryPrimitives.WriteUInt16BigEndian(hello.AsSpan(Magic.Length), Version);
        tokenKey.CopyTo(hello, Magic.Length + 2);
        return hello;
    }

    /// <summary>Parent to a link: nothing more comes; stop once what came before is answered.</summary>
    private sealed class Retire
    {
        public static readonly Retire Instance = new();
    }

    /// <summary>Link to parent: broken; send no more (a new link is made for the next message).</summary>
    private sealed record LinkFailed(Address Node);

    /// <summary>This node's link to one other node: connects, says hello, then writes what it is given, one Akka.IO write
    /// (of up to 256 KiB of queued messages) acknowledged at a time.</summary>
    private sealed class OutboundLink : ReceiveActor
    {
        private sealed class Ack : AkkaTcp.Event
        {
            public static readonly Ack Instance = new();
        }

        /// <summary>One message waiting: its bytes as segments (a relayed chunk's data is not copied: it is written from
        /// the buffer it arrived in, which is given back once the write is acknowledged).</summary>
        private sealed record Queued(ArraySegment<byte>[] Segments, int Length, IActorRef Sender, ICrossNodeMessage Message, IActorRef Target)
        {
            public void Release() => ((Message as RelayMessages.RelayFrame)?.Frame as Chunk)?.Release();
        }

        private readonly ILoggingAdapter _log = Context.GetLogger();
        private readonly Address _node;
        private readonly long _maxQueue;
        private readonly ClusterSerializer _serializer;
        private readonly Queue<Queued> _queue = new();
        /// <summary>Actor paths as they go on the wire (one relay sends thousands of chunks between the same two actors).</summary>
        private readonly Dictionary<IActorRef, byte[]> _paths = [];
        private readonly List<Queued> _inFlight = [];
        private long _queued;
        private IActorRef? _tcp;

        public OutboundLink(IPEndPoint endpoint, Address node, byte[] tokenKey, long maxQueue)
        {
            _node = node;
            _maxQueue = maxQueue;
            _serializer = new ClusterSerializer((ExtendedActorSystem)Context.System);
            Context.System.Tcp().Tell(new AkkaTcp.Connect(endpoint, timeout: TimeSpan.FromSeconds(5)));
            Receive<AkkaTcp.Connected>(_ =>
            {
                _tcp = Sender;
                _tcp.Tell(new AkkaTcp.Register(Self));
                _tcp.Tell(AkkaTcp.Write.Create(ByteString.FromBytes(Hello(tokenKey))));
                Become(Connected);
                WriteNext();
            });
            Receive<AkkaTcp.CommandFailed>(f => Fail($"cannot connect the link to node {node}: {f.CauseString}"));
            Receive<RelayMessages.ViaNode>(Enqueue);
            Receive<Retire>(_ => Fail($"the link to node {node} was closed"));
        }

        /// <summary>Broken: whatever still comes fails its relay, until the parent, which has stopped sending here,
        /// retires it (the Retire comes after everything it forwarded before).</summary>
        private void Failed(string reason)
        {
            Receive<RelayMessages.ViaNode>(v =>
            {
                ((v.Message as RelayMessages.RelayFrame)?.Frame as Chunk)?.Release();
                FailRelay(new Queued([], 0, Sender, v.Message, v.Target), reason);
            });
            Receive<Retire>(_ => Context.Stop(Self));
            ReceiveAny(_ => { });
        }

        private void Connected()
        {
            Receive<RelayMessages.ViaNode>(v =>
            {
                Enqueue(v);
                if (_inFlight.Count == 0) WriteNext();
            });
            Receive<Ack>(_ =>
            {
                foreach (var item in _inFlight) item.Release();
                _inFlight.Clear();
                WriteNext();
            });
            Receive<AkkaTcp.Received>(_ => { });
            Receive<AkkaTcp.ConnectionClosed>(c => Fail($"the link to node {_node} closed: {c.Cause}"));
            Receive<AkkaTcp.CommandFailed>(f => Fail($"the link to node {_node} failed: {f.CauseString}"));
            Receive<Retire>(_ =>
            {
                _tcp?.Tell(AkkaTcp.Abort.Instance);
                Fail($"the link to node {_node} was closed");
            });
        }

        private void Enqueue(RelayMessages.ViaNode v)
        {
            var manifest = Encoding.ASCII.GetBytes(_serializer.Manifest(v.Message));
            ArraySegment<byte>[] payload = v.Message is RelayMessages.RelayFrame { Frame: Chunk chunk }
                && System.Runtime.InteropServices.MemoryMarshal.TryGetArray(chunk.Data, out var data)
                ? [FrameEncoder.EncodeChunkHeader(chunk.Id, chunk.Offset, data.Count), data]
                : [_serializer.ToBinary(v.Message)];
            var payloadLength = payload.Sum(p => p.Count);
            var header = Header(manifest, PathOf(v.Target), PathOf(Sender), payloadLength);
            var item = new Queued([header, .. payload], header.Length + payloadLength, Sender, v.Message, v.Target);
            if (_queued + item.Length > _maxQueue)
            {
                item.Release();
                FailRelay(item, $"the link to node {_node} has more than {_maxQueue} bytes waiting");
                return;
            }
            _queue.Enqueue(item);
            _queued += item.Length;
        }

        private byte[] PathOf(IActorRef actor)
        {
            if (actor.IsNobody()) return [];
            if (_paths.TryGetValue(actor, out var path)) return path;
            if (_paths.Count > 4096) _paths.Clear();
            return _paths[actor] = Encoding.UTF8.GetBytes(Akka.Serialization.Serialization.SerializedActorPath(actor));
        }

        private void WriteNext()
        {
            if (_queue.Count == 0) return;
            var batch = 0;
            while (_queue.Count > 0 && (batch == 0 || batch + _queue.Peek().Length <= 256 * 1024))
            {
                var item = _queue.Dequeue();
                _inFlight.Add(item);
                batch += item.Length;
                _queued -= item.Length;
            }
            _tcp!.Tell(AkkaTcp.Write.Create(ByteString.FromBytes(_inFlight.SelectMany(i => i.Segments)), Ack.Instance));
        }

        /// <summary>What was queued or in flight is lost: each relay it belonged to fails at both ends.</summary>
        private void Fail(string reason)
        {
            _log.Warning("{0}", reason);
            foreach (var item in _inFlight.Concat(_queue))
            {
                item.Release();
                FailRelay(item, reason);
            }
            _inFlight.Clear();
            _queue.Clear();
            _queued = 0;
            Context.Parent.Tell(new LinkFailed(_node));
            Become(() => Failed(reason));
        }

        private static void FailRelay(Queued item, string reason)
        {
            uint? id = item.Message switch
            {
                RelayMessages.RelayFrame f => f.Frame.Id,
                RelayMessages.RelayOffer o => o.Offer.Id,
                _ => null,
            };
            if (id is not { } relay) return;
            // Our side at once; the other side through Akka.Remote (its node may well be up).
            item.Sender.Tell(new RelayMessages.RelayGone(relay, reason));
            item.Target.Tell(new RelayMessages.RelayGone(relay, reason), item.Sender);
        }
    }

    /// <summary>A link from another node: checks its hello, then decodes messages and hands each to its target.</summary>
    private sealed class InboundLink : ReceiveActor, IWithTimers
    {
        private sealed class HelloTimedOut
        {
            public static readonly HelloTimedOut Instance = new();
        }

        private readonly ILoggingAdapter _log = Context.GetLogger();
        private readonly byte[] _tokenKey;
        private readonly IActorRef _tcp;
        private readonly long[] _delivered;
        private readonly ClusterSerializer _serializer;
        private readonly Dictionary<string, IActorRef> _refs = new(StringComparer.Ordinal);
        /// <summary>Small until the hello has passed: a stranger costs little.</summary>
        private byte[] _buffer = new byte[HelloLength];
        private int _filled;
        private bool _greeted;

        public ITimerScheduler Timers { get; set; } = null!;

        public InboundLink(byte[] tokenKey, IActorRef tcp, long[] delivered)
        {
            _tokenKey = tokenKey;
            _tcp = tcp;
            _delivered = delivered;
            _serializer = new ClusterSerializer((ExtendedActorSystem)Context.System);
            Receive<AkkaTcp.Received>(r =>
            {
                Append(r.Data);
                Process();
            });
            Receive<HelloTimedOut>(_ => Close("no hello within 5 s"));
            Receive<AkkaTcp.ConnectionClosed>(_ => Context.Stop(Self));
            Receive<AkkaTcp.CommandFailed>(_ => Context.Stop(Self));
        }

        protected override void PreStart() => Timers.StartSingleTimer(nameof(HelloTimedOut), HelloTimedOut.Instance, TimeSpan.FromSeconds(5));

        private void Append(ByteString data)
        {
            if (_filled + data.Count > _buffer.Length)
            {
                var grown = new byte[Math.Max(_buffer.Length * 2, _filled + data.Count)];
                Buffer.BlockCopy(_buffer, 0, grown, 0, _filled);
                _buffer = grown;
            }
            data.CopyTo(_buffer, _filled, data.Count);
            _filled += data.Count;
        }

        private void Process()
        {
            var at = 0;
            if (!_greeted)
            {
                if (_filled < HelloLength) return;
                var hello = _buffer.AsSpan(0, HelloLength);
                if (!hello[..Magic.Length].SequenceEqual(Magic) || BinaryPrimitives.ReadUInt16BigEndian(hello[Magic.Length..]) != Version
                    || !CryptographicOperations.FixedTimeEquals(hello[(Magic.Length + 2)..], _tokenKey))
                {
                    Close("not a node of this cluster (bad hello, version or token)");
                    return;
                }
                _greeted = true;
                Timers.Cancel(nameof(HelloTimedOut));
                at = HelloLength;
            }
            while (_filled - at >= 4)
            {
                var length = BinaryPrimitives.ReadUInt32BigEndian(_buffer.AsSpan(at));
                if (length > MaxMessage)
                {
                    Close($"a message of {length} bytes (at most {MaxMessage})");
                    return;
                }
                if (_filled - at - 4 < length) break;
                try
                {
                    Deliver(_buffer.AsSpan(at + 4, (int)length));
                }
                catch (Exception e) when (e is System.Runtime.Serialization.SerializationException or ProtocolException or InvalidCastException
                                               or ArgumentException or IndexOutOfRangeException)
                {
                    Close($"a message that cannot be read: {e.Message}");
                    return;
                }
                at += 4 + (int)length;
            }
            Buffer.BlockCopy(_buffer, at, _buffer, 0, _filled - at);
            _filled -= at;
            if (_buffer.Length > 256 * 1024 && _filled < 64 * 1024) Array.Resize(ref _buffer, 64 * 1024);
        }

        private void Deliver(ReadOnlySpan<byte> message)
        {
            var at = 0;
            int manifestLength = message[at++];
            var manifest = Encoding.ASCII.GetString(message.Slice(at, manifestLength));
            at += manifestLength;
            var target = Resolve(ReadString(message, ref at)) ?? throw new ArgumentException("no target");
            var sender = Resolve(ReadString(message, ref at));
            // A relayed frame (the bulk) is parsed straight from its wire encoding: one copy of a chunk, not two.
            var payload = manifest == "f" && message.Length - at > ProtocolLimits.FrameHeaderSize
                ? new RelayMessages.RelayFrame((TransferFrame)FrameDecoder.Parse((FrameType)message[at + ProtocolLimits.FrameHeaderSize - 1],
                    message[(at + ProtocolLimits.FrameHeaderSize)..].ToArray()))
                : _serializer.FromBinary(message[at..].ToArray(), manifest);
            target.Tell(payload, sender ?? ActorRefs.NoSender);
            Interlocked.Increment(ref _delivered[0]);
        }

        private static string ReadString(ReadOnlySpan<byte> message, ref int at)
        {
            var length = BinaryPrimitives.ReadUInt16BigEndian(message[at..]);
            var text = Encoding.UTF8.GetString(message.Slice(at + 2, length));
            at += 2 + length;
            return text;
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

        private void Close(string reason)
        {
            _log.Warning("closing a node link: {0}", reason);
            _tcp.Tell(AkkaTcp.Abort.Instance);
            Context.Stop(Self);
        }
    }
}
