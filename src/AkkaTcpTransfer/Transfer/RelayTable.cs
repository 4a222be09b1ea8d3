using Akka.Actor;
using AkkaTcpTransfer.Protocol;
using AkkaTcpTransfer.Settings;
using AkkaTcpTransfer.Tcp;

namespace AkkaTcpTransfer.Transfer;

/// <summary>The server's relay for transfers between two clients, kept by each client's PeerActor (not an actor of
/// its own: it works in its owner's context). Frames pass from one client's connection to the other's unchanged
/// except for the names the server vouches for (Offer.From, Cancel.By) and the limits it may lower (Accept's chunk
/// size and window). The server never stores the file: at most the granted window of a transfer's chunks is
/// queued towards the recipient; the sender's connection enforces that window (<see cref="Tcp.ConnectionActor"/>).</summary>
internal sealed class RelayTable
{
    private sealed class Relay(bool clientSends)
    {
        /// <summary>True on the sending client's side, false on the receiving client's side.</summary>
        public bool ClientSends { get; } = clientSends;
        public IActorRef? OtherPeer { get; set; }
        public bool Started { get; set; }
    }

    private static readonly FrameType[] FromSender = [FrameType.Start, FrameType.Chunk, FrameType.Done, FrameType.Cancel, FrameType.Fail];
    private static readonly FrameType[] FromReceiver = [FrameType.Accept, FrameType.Reject, FrameType.Ack, FrameType.Verified, FrameType.Cancel, FrameType.Fail];

    private readonly IActorContext _context;
    private readonly NodeSettings _settings;
    private readonly IActorRef _registry;
    private readonly Dictionary<uint, Relay> _relays = [];
    private IActorRef _connection = ActorRefs.Nobody;
    private string _clientName = "";

    public RelayTable(IActorContext context, NodeSettings settings, IActorRef registry)
    {
        _context = context;
        _settings = settings;
        _registry = registry;
    }

    public void Attach(IActorRef connection, string clientName)
    {
        _connection = connection;
        _clientName = clientName;
    }

    public bool Owns(uint id) => _relays.ContainsKey(id);

    /// <summary>Our client offers a file to another client: find the recipient, then hand the offer over.</summary>
    public void BeginOffer(Offer offer)
    {
        if (_relays.ContainsKey(offer.Id))
        {
            ToClient(new Reject(offer.Id, "transfer id already in use; offer again"));
            return;
        }
        _relays[offer.Id] = new Relay(clientSends: true);
        _registry.Tell(new Chat.SessionMessages.Lookup(offer.To, offer with { From = _clientName }), _context.Self);
    }

    public void OnLookup(Chat.SessionMessages.LookupResult result)
    {
        if (result.Tag is not Offer offer || !_relays.TryGetValue(offer.Id, out var relay)) return;
        if (result.Peer is null || result.Peer.Equals(_context.Self))
        {
            _relays.Remove(offer.Id);
            ToClient(new Reject(offer.Id, result.Peer is null ? $"no one named '{result.Name}' is online" : "you cannot send a file to yourself"));
            return;
        }
        relay.OtherPeer = result.Peer;
        result.Peer.Tell(new RelayMessages.RelayOffer(offer with { To = result.Name }, _context.Self), _context.Self);
    }

    /// <summary>Another client's offer for ours.</summary>
    public void OnRelayOffer(RelayMessages.RelayOffer offer, bool idTakenHere)
    {
        if (idTakenHere || _relays.ContainsKey(offer.Offer.Id))
        {
            offer.SenderPeer.Tell(new RelayMessages.RelayFrame(new Reject(offer.Offer.Id, "transfer id collision at the recipient; offer again")), _context.Self);
            return;
        }
        _relays[offer.Offer.Id] = new Relay(clientSends: false) { OtherPeer = offer.SenderPeer };
        ToClient(offer.Offer);
    }

    /// <summary>A transfer frame from our client; false if it is not for a relayed transfer.</summary>
    public bool OnClientFrame(TransferFrame frame)
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
            if (frame is Cancel or Fail) _relays.Remove(frame.Id);
            return true;
        }
        switch (frame)
        {
            case Start:
                relay.Started = true;
                break;
            case Chunk when !relay.Started:
                Break(frame.Id, relay, "protocol violation: a chunk before Start");
                return true;
        }
        if (frame is Cancel cancel) frame = cancel with { By = _clientName };
        relay.OtherPeer.Tell(new RelayMessages.RelayFrame(frame), _context.Self);
        if (IsTerminal(frame)) _relays.Remove(frame.Id);
        return true;
    }

    /// <summary>A frame from the other client's side, for ours.</summary>
    public void OnRelayFrame(RelayMessages.RelayFrame relayed)
    {
        var frame = relayed.Frame;
        if (!_relays.TryGetValue(frame.Id, out var relay)) return;
        if (frame is Accept accept)
        {
            // Our client's chunks must fit our frame limit and the recipient's; the server's window caps what it may
            // ever have to queue for this transfer. Our connection enforces both on the chunks that come back.
            frame = accept with
            {
                MaxChunk = Math.Min(accept.MaxChunk, _settings.MaxFrameSize - ProtocolLimits.ChunkOverhead),
                Window = Math.Min(accept.Window, _settings.Transfer.Window),
            };
        }
        ToClient(frame);
        if (IsTerminal(frame)) _relays.Remove(frame.Id);
    }

    public void OnGone(RelayMessages.RelayGone gone)
    {
        if (!_relays.Remove(gone.Id)) return;
        ToClient(new Fail(gone.Id, gone.Reason));
    }

    /// <summary>Our client disconnected: every relay through it fails at the other end.</summary>
    public void ClientGone(string reason)
    {
        foreach (var (id, relay) in _relays)
        {
            relay.OtherPeer?.Tell(new RelayMessages.RelayGone(id, $"{_clientName} disconnected ({reason})"), _context.Self);
        }
        _relays.Clear();
    }

    private void Break(uint id, Relay relay, string reason)
    {
        _relays.Remove(id);
        ToClient(new Fail(id, reason));
        relay.OtherPeer?.Tell(new RelayMessages.RelayGone(id, $"the server stopped the transfer at {_clientName}'s end: {reason}"), _context.Self);
    }

    private static bool IsTerminal(TransferFrame frame) => frame is Reject or Verified or Cancel or Fail;

    private void ToClient(Frame frame) => _connection.Tell(new ConnectionMessages.Send(frame), _context.Self);
}
