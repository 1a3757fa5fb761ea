using System.Threading.Channels;

namespace HikShareGateway.Core.Alarms;

/// <summary>
/// Fans routed alarms out to the <c>GET /api/v1/events</c> streams of their recipients.
/// Each subscriber has a bounded queue; a subscriber that does not keep up loses its oldest alarms, never blocks the publisher.
/// </summary>
public sealed class AlarmFeed
{
    private readonly Lock _gate = new();
    private readonly List<Subscriber> _subscribers = [];

    public int SubscriberCount { get { lock (_gate) { return _subscribers.Count; } } }

    public void Publish(RoutedAlarm alarm)
    {
        lock (_gate)
        {
            foreach (var s in _subscribers)
            {
                foreach (var r in alarm.Recipients)
                {
                    if (string.Equals(r, s.Account, StringComparison.Ordinal))
                    {
                        s.Queue.Writer.TryWrite(alarm.Alarm);
                        break;
                    }
                }
            }
        }
    }

    /// <summary>The alarms <paramref name="account"/> receives from now until cancelled.</summary>
    public async IAsyncEnumerable<AlarmEvent> SubscribeAsync(string account, [System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken cancellationToken)
    {
        var subscriber = new Subscriber(account, Channel.CreateBounded<AlarmEvent>(new BoundedChannelOptions(256)
        {
            FullMode = BoundedChannelFullMode.DropOldest,
            SingleReader = true,
        }));
        lock (_gate) { _subscribers.Add(subscriber); }
        try
        {
            await foreach (var a in subscriber.Queue.Reader.ReadAllAsync(cancellationToken).ConfigureAwait(false))
            {
                yield return a;
            }
        }
        finally
        {
            lock (_gate) { _subscribers.Remove(subscriber); }
        }
    }

    private sealed record Subscriber(string Account, Channel<AlarmEvent> Queue);
}
