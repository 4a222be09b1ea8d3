using Akka.Actor;
using AkkaTcpTransfer.Protocol;
using AkkaTcpTransfer.Server.Sessions;
using AkkaTcpTransfer.Settings;
using AkkaTcpTransfer.Tcp;
using AkkaTcpTransfer.Transfer.Flow;
using AkkaTcpTransfer.Text;
using AkkaTcpTransfer.Server.Federation;

namespace AkkaTcpTransfer.Server.Relay;

/// <summary>The server's relay for transfers between two clients, kept by each client's PeerActor (not an actor of its
/// own: it works in its owner's context). Frames pass from one client's connection to the other's unchanged except for
/// what the server vouches for (Offer.From and Offer.SenderId, Cancel.By) and the limits it may lower (Accept's chunk
/// size, to what both clients and the server accept, and its window). The server never stores the file:
/// <list type="bullet">
/// <item>on the sending client's side it enforces the flow control the recipient granted (order, chunk size, window),
/// so at most one window of a transfer is ever queued towards the recipient;</item>
/// <item>a client may have at most <c>limits.relays-per-client</c> transfers relayed at once;</item>
/// <item>every phase has a time bound (an answer, a Start, data), a little longer than the clients' own, after which
/// the relay fails at both ends; a lost or misbehaving end fails the other.</item>
/// </list></summary>
internal sealed class RelayTable
{
    private enum Phase
    {
        Finding,
        Offered,
        Accepted,
        Streaming,
    }

    private sealed class Relay(bool clientSends, TimeSpan now)
    {
        /// <summary>True on the sending client's side, false on the receiving client's side.</summary>
        public bool ClientSends { get; } = clientSends;
        public IActorRef? OtherPeer { get; set; }
        public Phase Phase { get; set; }
        public TimeSpan LastActivity { get; set; } = now;
        /// <summary>Sending side: the flow control the recipient granted, as the server relays it (the same rules a
        /// receiver enforces, <see cref="InboundWindow"/>).</summary>
        public InboundWindow Flow { get; } = InboundWindow.ForRelay();
    }

    private static readonly FrameType[] FromSender = [FrameType.Start, FrameType.Chunk, FrameType.Done, FrameType.Cancel, FrameType.Fail];
    private static readonly FrameType[] FromReceiver = [FrameType.Accept, FrameType.Reject, FrameType.Ack, FrameType.Verified, FrameType.Cancel, FrameType.Fail];

    /// <summary>Added to the clients' own timeouts: the clients normally give up first, with a better reason.</summary>
    private static readonly TimeSpan Margin = TimeSpan.FromSeconds(10);

    private readonly IActorContext _context;
    private readonly NodeSettings _settings;
    private readonly IActorRef _registry;
    private readonly Dictionary<uint, Relay> _relays = [];
    private IActorRef _connection = ActorRefs.Nobody;
    private string _clientName = "";
    private byte[] _identity = [];
    private int _clientMaxFrame;
    private int _sending;

    private readonly IActorRef? _links;

    /// <param name="links">In a cluster, the node links (<see cref="ServerPluginParts.Links"/>): what goes to a session on
    /// another node travels through them, in order; null on a single server.</param>
    /// <summary>What becomes of an offer to one name nobody online holds: kept for the name's owner, or null (refused).</summary>
    private readonly Action<Offer>? _nobodyOnline;

    /// <param name="nobodyOnline">Takes an offer (From and SenderId stamped) to a name nobody online holds; null: such
    /// an offer is refused.</param>
    public RelayTable(IActorContext context, NodeSettings settings, IActorRef registry, IActorRef? links = null, Action<Offer>? nobodyOnline = null)
    {
        _nobodyOnline = nobodyOnline;
        _links = links;
        _context = context;
        _settings = settings;
        _registry = registry;
    }

    /// <summary>Our client is online as <paramref name="clientName"/> with identity digest <paramref name="identity"/>
    /// and accepts frames of up to <paramref name="clientMaxFrame"/> bytes.</summary>
    public void Attach(IActorRef connection, string clientName, byte[] identity, int clientMaxFrame)
    {
        _connection = connection;
        _clientName = clientName;
        _identity = identity;
        _clientMaxFrame = clientMaxFrame;
    }

    public bool Owns(uint id) => _relays.ContainsKey(id);

    /// <summary>Our client offers a file to another client (its id already checked to be free on this connection): find
    /// the recipient, then hand the offer over.</summary>
    public void BeginOffer(Offer offer, TimeSpan now)
    {
        if (_sending >= _settings.Limits.RelaysPerClient)
        {
            ToClient(new Reject(offer.Id, $"{ProtocolLimits.TryLaterPrefix}transfers of yours going through the server at once ({_sending}, at most {_settings.Limits.RelaysPerClient}); try again when one is done"));
            return;
        }
        _relays[offer.Id] = new Relay(clientSends: true, now);
        _sending++;
        _registry.Tell(new SessionMessages.FindOfferRecipient(offer with { From = _clientName, SenderId = _identity }), _context.Self);
    }

    public void OnRecipient(SessionMessages.OfferRecipient found, TimeSpan now)
    {
        var offer = found.Offer;
        if (!_relays.TryGetValue(offer.Id, out var relay) || relay.Phase != Phase.Finding) return;
        if (found.Peer is null && _nobodyOnline is not null)
        {
            Remove(offer.Id);
            _nobodyOnline(offer);
            return;
        }
        if (found.Peer is null || found.Peer.Equals(_context.Self))
        {
            Remove(offer.Id);
            ToClient(new Reject(offer.Id, found.Peer is null ? $"no one named '{found.Name}' is online" : "you cannot send a file to yourself"));
            return;
        }
        relay.OtherPeer = found.Peer;
        WatchIfRemote(found.Peer);
        relay.Phase = Phase.Offered;
        relay.LastActivity = now;
        ToPeer(found.Peer, new RelayMessages.RelayOffer(offer with { To = found.Name }, _context.Self));
    }

    /// <summary>Another client's offer for ours.</summary>
    public void OnRelayOffer(RelayMessages.RelayOffer offer, bool idTakenHere, TimeSpan now)
    {
        if (idTakenHere || _relays.ContainsKey(offer.Offer.Id))
        {
            ToPeer(offer.SenderPeer, new RelayMessages.RelayFrame(new Reject(offer.Offer.Id, "transfer id collision at the recipient; offer again")));
            return;
        }
        _relays[offer.Offer.Id] = new Relay(clientSends: false, now) { OtherPeer = offer.SenderPeer, Phase = Phase.Offered };
        WatchIfRemote(offer.SenderPeer);
        ToClient(offer.Offer);
    }

    /// <summary>A transfer frame from our client; false if it is not for a relayed transfer.</summary>
    public bool OnClientFrame(TransferFrame frame, TimeSpan now)
    {
        if (!_relays.TryGetValue(frame.Id, out var relay)) return false;
        var allowed = relay.ClientSends ? FromSender : FromReceiver;
        if (!allowed.Contains(frame.Type))
        {
            Break(frame.Id, relay, $"protocol violation: {frame.Type} is not for this end of the transfer");
            return true;
        }
        if (relay.OtherPeer is null)
        {
            // Still looking for the recipient: only an end of the transfer can come this early.
            if (frame is Cancel or Fail) Remove(frame.Id);
            else Break(frame.Id, relay, $"protocol violation: {frame.Type} before the offer was answered");
            return true;
        }
        if (Check(frame, relay) is { } violation)
        {
            (frame as Chunk)?.Release();
            // A chunk of a transfer already broken is dropped without a word (InboundWindow.Broken).
            if (violation.Length > 0) Break(frame.Id, relay, $"protocol violation: {violation}");
            return true;
        }
        switch (frame)
        {
            case Accept accept:
                // What our client accepts may not exceed what it can receive in one frame, nor what the server reads.
                frame = accept with { MaxChunk = Math.Min(accept.MaxChunk, Math.Min(_clientMaxFrame, _settings.MaxFrameSize) - ProtocolLimits.ChunkOverhead) };
                relay.Phase = Phase.Accepted;
                break;
            case Cancel cancel:
                frame = cancel with { By = _clientName };
                break;
        }
        relay.LastActivity = now;
        ToPeer(relay.OtherPeer, new RelayMessages.RelayFrame(frame));
        if (IsTerminal(frame)) Remove(frame.Id);
        return true;
    }

    /// <summary>The sending client's Start, chunks and Done against the flow control the recipient granted, and the
    /// receiving client's Accept against the offer it answers; null if fine.</summary>
    private static string? Check(TransferFrame frame, Relay relay)
    {
        switch (frame)
        {
            case Accept when relay.Phase != Phase.Offered:
                return "Accept for an offer that is not waiting for an answer";
            case Start start:
                var problem = relay.Flow.Start(start);
                if (problem is null) relay.Phase = Phase.Streaming;
                return problem;
            case Chunk chunk:
                return relay.Flow.Admit(chunk);
            case Done done:
                return relay.Flow.Finish(done);
            default:
                return null;
        }
    }

    /// <summary>A frame from the other client's side, for ours.</summary>
    public void OnRelayFrame(RelayMessages.RelayFrame relayed, TimeSpan now)
    {
        var frame = relayed.Frame;
        if (!_relays.TryGetValue(frame.Id, out var relay)) return;
        switch (frame)
        {
            case Accept accept when relay.ClientSends:
                // Our client's chunks must fit the server's frame limit; the server's window caps what it may ever have
                // to queue for this transfer. The chunks that come back are checked against both (Check).
                // Between two server nodes chunks stay small, so that chat and heartbeats on the same link never wait
                // long behind one (RelayMessages.MaxRemoteChunk).
                var maxChunk = Math.Min(accept.MaxChunk, _settings.MaxFrameSize - ProtocolLimits.ChunkOverhead);
                if (IsRemote(relay.OtherPeer)) maxChunk = Math.Min(maxChunk, RelayMessages.MaxRemoteChunk);
                frame = accept with
                {
                    MaxChunk = maxChunk,
                    Window = Math.Min(accept.Window, _settings.Transfer.Window),
                };
                relay.Flow.Grant(((Accept)frame).MaxChunk, ((Accept)frame).Window);
                relay.Phase = Phase.Accepted;
                break;
            case Ack ack when relay.ClientSends:
            {
                // The receiving client's word moves the window this server polices: it must acknowledge only what was
                // relayed, and forward; an Ack that moves nothing is not passed on (a flood of them would be).
                var (forward, problem) = relay.Flow.CheckAcknowledgement(ack.Written);
                if (problem is not null)
                {
                    BreakFromOtherSide(frame.Id, relay, $"protocol violation by the receiver: {problem}");
                    return;
                }
                if (!forward) return;
                break;
            }
            case Start when !relay.ClientSends:
                relay.Phase = Phase.Streaming;
                break;
        }
        relay.LastActivity = now;
        ToClient(frame);
        if (IsTerminal(frame)) Remove(frame.Id);
    }

    public void OnGone(RelayMessages.RelayGone gone)
    {
        if (!Remove(gone.Id)) return;
        ToClient(new Fail(gone.Id, gone.Reason));
    }

    /// <summary>A frame we relayed could not be sent to our client (it is too large for it): the transfer fails.</summary>
    public bool OnSendFailed(ConnectionMessages.SendFailed failed)
    {
        if (failed.Frame is not TransferFrame frame || !_relays.TryGetValue(frame.Id, out var relay)) return false;
        Break(frame.Id, relay, $"the server could not pass {frame.Type} on to {_clientName}: {failed.Reason}");
        return true;
    }

    /// <summary>A session actor this table watched is gone without a word: its server node left the cluster or died.
    /// Every relay with it fails here (the other end's node, if alive, ends its own half).</summary>
    public void PeerTerminated(IActorRef peer)
    {
        foreach (var (id, relay) in _relays.Where(r => peer.Equals(r.Value.OtherPeer)).ToList())
        {
            Remove(id);
            ToClient(new Fail(id, "the server node of the other end is gone; send again to resume"));
        }
    }

    /// <summary>To the other end's session: through the node link when it is on another node, so that everything of a
    /// relay keeps its order there too.</summary>
    private void ToPeer(IActorRef peer, ICrossNodeMessage message)
    {
        if (_links is not null && IsRemote(peer)) _links.Tell(new RelayMessages.ViaNode(peer, message), _context.Self);
        else peer.Tell(message, _context.Self);
    }

    private static bool IsRemote(IActorRef? peer) => peer is not null && !peer.Path.Address.HasLocalScope;

    /// <summary>A session on another server node may vanish with its node, without a RelayGone: watch it.</summary>
    private void WatchIfRemote(IActorRef peer)
    {
        if (IsRemote(peer)) _context.Watch(peer);
    }

    /// <summary>Fails every relay that has waited longer than its phase allows.</summary>
    public void Sweep(TimeSpan now)
    {
        foreach (var (id, relay) in _relays.ToList())
        {
            var (limit, waitingFor) = relay.Phase switch
            {
                Phase.Finding or Phase.Offered => (_settings.Transfer.AnswerTimeout + Margin, "an answer to the offer"),
                Phase.Accepted => (_settings.Transfer.StartTimeout + Margin, "the sender to start"),
                _ => (_settings.Transfer.StallTimeout + Margin, "data"),
            };
            if (now - relay.LastActivity > limit)
                Break(id, relay, $"the server waited {Units.Seconds(limit)} for {waitingFor}");
        }
    }

    /// <summary>Our client disconnected: every relay through it fails at the other end.</summary>
    public void ClientGone(string reason)
    {
        foreach (var (id, relay) in _relays)
        {
            if (relay.OtherPeer is { } other) ToPeer(other, new RelayMessages.RelayGone(id, $"{_clientName} disconnected ({reason})"));
        }
        _relays.Clear();
        _sending = 0;
    }

    /// <summary>The other client broke the transfer: both ends hear of it.</summary>
    private void BreakFromOtherSide(uint id, Relay relay, string reason)
    {
        Remove(id);
        ToClient(new Fail(id, reason));
        if (relay.OtherPeer is { } other) ToPeer(other, new RelayMessages.RelayGone(id, reason));
    }

    private void Break(uint id, Relay relay, string reason)
    {
        Remove(id);
        ToClient(new Fail(id, reason));
        if (relay.OtherPeer is { } other) ToPeer(other, new RelayMessages.RelayGone(id, $"the server stopped the transfer at {_clientName}'s end: {reason}"));
    }

    private bool Remove(uint id)
    {
        if (!_relays.Remove(id, out var relay)) return false;
        if (relay.ClientSends) _sending--;
        return true;
    }

    private static bool IsTerminal(TransferFrame frame) => frame is Reject or Verified or Cancel or Fail;

    private void ToClient(Frame frame) => _connection.Tell(new ConnectionMessages.Send(frame), _context.Self);
}
