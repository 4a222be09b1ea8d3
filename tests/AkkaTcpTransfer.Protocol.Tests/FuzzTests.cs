using AkkaTcpTransfer.Fuzzing;
using AkkaTcpTransfer.Protocol;

namespace AkkaTcpTransfer.Protocol.Tests;

/// <summary>Structure-aware mutations of every frame type (<see cref="FrameMutator"/>): lying lengths, swapped types,
/// field lengths and counts, boundary numbers, invalid UTF-8, truncation, extension. The decoder must answer each with
/// a frame or a <see cref="ProtocolException"/>, never anything else; and the mutations must really reach field
/// parsing, which is what makes this test worth having.</summary>
public class FuzzTests
{
    private const int Rounds = 60_000;

    [Fact]
    public void Every_mutation_of_every_frame_decodes_or_fails_as_a_protocol_violation()
    {
        var random = new Random(20261130);
        var mutator = new FrameMutator(random);
        var seeds = SampleFrames.All.Select(FrameEncoder.Encode).ToArray();
        var outcomes = new Dictionary<string, int>();
        var byStrategy = new Dictionary<FrameMutator.Strategy, int>();
        for (var i = 0; i < Rounds; i++)
        {
            var (bytes, strategy) = mutator.Mutate(seeds[i % seeds.Length]);
            byStrategy[strategy] = byStrategy.GetValueOrDefault(strategy) + 1;
            string outcome;
            var frames = new List<Frame>();
            try
            {
                new FrameDecoder(ProtocolLimits.AbsoluteMaxFrameLength).Decode(bytes, frames);
                outcome = frames.Count > 0 ? "decoded" : "incomplete";
                // What decodes must re-encode without throwing and decode to the same frame again.
                foreach (var frame in frames) Reencodes(frame);
            }
            catch (ProtocolException e)
            {
                outcome = e.GetType().Name;
            }
            outcomes[outcome] = outcomes.GetValueOrDefault(outcome) + 1;
        }
        // Every strategy ran, and most cases went past the length and type checks into the fields.
        Assert.Equal(Enum.GetValues<FrameMutator.Strategy>().Length, byStrategy.Count);
        var reachedFields = outcomes.GetValueOrDefault("decoded") + outcomes.GetValueOrDefault(nameof(MalformedFrameException))
            + outcomes.GetValueOrDefault(nameof(InvalidUtf8Exception));
        Assert.True(reachedFields > Rounds * 0.7, string.Join(", ", outcomes.Select(kv => $"{kv.Key}={kv.Value}")));
        Assert.True(outcomes.GetValueOrDefault(nameof(MalformedFrameException)) > Rounds / 4);
        Assert.True(outcomes.GetValueOrDefault(nameof(InvalidUtf8Exception)) > Rounds / 50);
    }

    [Fact]
    public void Every_mutation_split_byte_by_byte_decodes_exactly_as_it_does_whole()
    {
        var mutator = new FrameMutator(new Random(7));
        var seeds = SampleFrames.All.Select(FrameEncoder.Encode).ToArray();
        for (var i = 0; i < 3_000; i++)
        {
            var (bytes, _) = mutator.Mutate(seeds[i % seeds.Length]);
            var whole = Outcome(decoder => decoder.Decode(bytes, []));
            var split = Outcome(decoder =>
            {
                foreach (var b in bytes) decoder.Decode(new[] { b }, []);
            });
            Assert.Equal(whole, split);
        }
    }

    private static string Outcome(Action<FrameDecoder> run)
    {
        try
        {
            run(new FrameDecoder(ProtocolLimits.AbsoluteMaxFrameLength));
            return "ok";
        }
        catch (ProtocolException e)
        {
            return e.GetType().Name;
        }
    }

    private static void Reencodes(Frame frame)
    {
        var again = new List<Frame>();
        new FrameDecoder(ProtocolLimits.AbsoluteMaxFrameLength).Decode(FrameEncoder.Encode(frame), again);
        var reason = frame switch
        {
            Refused r => r.Reason,
            Goodbye g => g.Reason,
            Error e => e.Message,
            Reject r => r.Reason,
            Cancel c => c.Reason,
            Fail f => f.Reason,
            Delivery d => d.Reason,
            _ => "",
        };
        // Free text longer than the encoder writes is cut on the way out; everything else survives unchanged.
        if (System.Text.Encoding.UTF8.GetByteCount(reason) <= ProtocolLimits.MaxReasonBytes)
            SampleFrames.AssertSameFrame(frame, Assert.Single(again));
    }
}
