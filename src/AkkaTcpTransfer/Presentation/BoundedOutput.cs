using System.Collections.Concurrent;

namespace AkkaTcpTransfer.Presentation;

/// <summary>Text written by a dedicated thread, through a bounded queue: whoever writes never blocks, whatever the
/// reader of the output does (a terminal stopped with Ctrl-S, a pipe nobody drains). When the queue is full, text is
/// dropped and counted, and once the output moves again a line says how much was not shown. Memory stays bounded by
/// the queue (<paramref name="capacity"/> pieces of text).</summary>
internal sealed class BoundedOutput : IDisposable
{
    private readonly TextWriter _writer;
    private readonly BlockingCollection<string> _queue;
    private readonly Thread _thread;
    private long _dropped;
    private long _written;
    private long _enqueued;

    public BoundedOutput(TextWriter writer, int capacity)
    {
        _writer = writer;
        _queue = new BlockingCollection<string>(capacity);
        _thread = new Thread(Run) { IsBackground = true, Name = "output" };
        _thread.Start();
    }

    /// <summary>Pieces of text dropped so far because the output was not being read.</summary>
    public long Dropped => Interlocked.Read(ref _dropped);

    /// <summary>Queues <paramref name="text"/>; false (and counted) if the queue is full.</summary>
    public bool TryWrite(string text)
    {
        if (_queue.IsAddingCompleted || !_queue.TryAdd(text))
        {
            Interlocked.Increment(ref _dropped);
            return false;
        }
        Interlocked.Increment(ref _enqueued);
        return true;
    }

    /// <summary>Completes once everything queued before this call has been written (or after <paramref name="timeout"/>).</summary>
    public async Task<bool> DrainedAsync(TimeSpan timeout)
    {
        var target = Interlocked.Read(ref _enqueued);
        var deadline = DateTime.UtcNow + timeout;
        while (Interlocked.Read(ref _written) < target)
        {
            if (DateTime.UtcNow > deadline) return false;
            await Task.Delay(5);
        }
        return true;
    }

    private void Run()
    {
        long reported = 0;
        foreach (var text in _queue.GetConsumingEnumerable())
        {
            try
            {
                _writer.Write(text);
                var dropped = Interlocked.Read(ref _dropped);
                if (_queue.Count == 0 && dropped > reported)
                {
                    _writer.Write($"[{dropped - reported} lines not shown: the output was not being read]{Environment.NewLine}");
                    reported = dropped;
                }
                if (_queue.Count == 0) _writer.Flush();
            }
            catch (Exception e) when (e is IOException or ObjectDisposedException)
            {
                // stdout is gone (the reader quit): there is no one left to tell
            }
            Interlocked.Increment(ref _written);
        }
    }

    public void Dispose()
    {
        _queue.CompleteAdding();
        _thread.Join(TimeSpan.FromSeconds(2));
        _queue.Dispose();
    }
}
