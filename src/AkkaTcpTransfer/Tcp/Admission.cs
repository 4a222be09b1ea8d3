using System.Net;
using AkkaTcpTransfer.Protocol;
using AkkaTcpTransfer.Settings;

namespace AkkaTcpTransfer.Tcp;

/// <summary>Who may open a connection, per address: at most <c>server.max-connections-per-address</c> open, of which at
/// most <c>max-handshakes-per-address</c> still in their handshake, and none from an address that misbehaved (a wrong
/// token, a client disconnected for flooding) until its backoff has passed (doubling per offence, from
/// penalty-min to penalty-max). Pure: the listener owns it and passes the time in.</summary>
internal sealed class Admission(ServerSettings settings)
{
    private sealed class State
    {
        public int Open;
        public int Handshaking;
        public int Failures;
        public TimeSpan BlockedUntil;
        public TimeSpan LastFailure;
        public ListenerMessages.Misbehaviour Last;
    }

    private readonly Dictionary<IPAddress, State> _byAddress = [];

    /// <summary>Addresses tracked (for tests and figures).</summary>
    public int Addresses => _byAddress.Count;

    /// <summary>Null and the connection is counted, or the code and reason to refuse it with.</summary>
    public (WireCode Code, string Reason)? Admit(IPAddress address, TimeSpan now)
    {
        var state = _byAddress.GetValueOrDefault(address);
        if (state is not null)
        {
            Forget(state, now);
            if (now < state.BlockedUntil)
            {
                var wait = Math.Ceiling((state.BlockedUntil - now).TotalSeconds);
                return state.Last == ListenerMessages.Misbehaviour.WrongToken
                    ? (WireCode.BadToken, $"too many wrong tokens from {address}; try again in {wait:0} s")
                    : (WireCode.RateLimited, $"a client from {address} was disconnected for sending too fast; try again in {wait:0} s");
            }
            if (state.Open >= settings.MaxConnectionsPerAddress)
                return (WireCode.ServerFull, $"too many connections from {address} (at most {settings.MaxConnectionsPerAddress})");
            if (state.Handshaking >= settings.MaxHandshakesPerAddress)
                return (WireCode.ServerFull, $"too many connections from {address} still in their handshake (at most {settings.MaxHandshakesPerAddress})");
        }
        else
        {
            state = _byAddress[address] = new State();
        }
        state.Open++;
        state.Handshaking++;
        return null;
    }

    /// <summary>The connection's client is in: it no longer counts as a handshake, and earlier token failures are forgiven.</summary>
    public void Admitted(IPAddress address)
    {
        if (!_byAddress.TryGetValue(address, out var state)) return;
        state.Handshaking = Math.Max(0, state.Handshaking - 1);
        state.Failures = 0;
        state.BlockedUntil = TimeSpan.Zero;
    }

    public void Closed(IPAddress address, bool admitted)
    {
        if (!_byAddress.TryGetValue(address, out var state)) return;
        state.Open = Math.Max(0, state.Open - 1);
        if (!admitted) state.Handshaking = Math.Max(0, state.Handshaking - 1);
        if (state.Open == 0 && state.Failures == 0) _byAddress.Remove(address);
    }

    /// <summary>Forgets addresses with nothing open whose offences are old enough to be forgiven: what an offender
    /// leaves behind here is bounded by time, however many addresses it comes from.</summary>
    public void Sweep(TimeSpan now)
    {
        foreach (var (address, state) in _byAddress.ToList())
        {
            Forget(state, now);
            if (state.Open == 0 && state.Failures == 0) _byAddress.Remove(address);
        }
    }

    public void Penalize(IPAddress address, ListenerMessages.Misbehaviour what, TimeSpan now)
    {
        if (!_byAddress.TryGetValue(address, out var state)) return;
        Forget(state, now);
        state.Failures++;
        state.LastFailure = now;
        state.Last = what;
        var wait = settings.PenaltyMin * Math.Pow(2, Math.Min(state.Failures - 1, 30));
        state.BlockedUntil = now + (wait > settings.PenaltyMax ? settings.PenaltyMax : wait);
    }

    /// <summary>Failures older than the longest backoff are forgotten.</summary>
    private void Forget(State state, TimeSpan now)
    {
        if (state.Failures > 0 && now - state.LastFailure > settings.PenaltyMax + settings.PenaltyMax)
        {
            state.Failures = 0;
            state.BlockedUntil = TimeSpan.Zero;
        }
    }
}
