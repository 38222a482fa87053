// Allocation load for the GC log tests.
//
//   java GcLoad leak MEGABYTES    keeps one of every 64 buffers forever
//   java GcLoad steady MEGABYTES  keeps only the last 256 buffers
//
// Both allocate MEGABYTES of 1 KiB buffers, so the collector is as busy in
// both; only the leaky one makes the heap after GC rise. The amount of work
// is fixed rather than the time, so a loaded machine gets the same number
// of collections, only later.
import java.util.ArrayList;
import java.util.List;

public class GcLoad {
    public static void main(String[] args) {
        boolean leak = args[0].equals("leak");
        long buffers = Long.parseLong(args[1]) * 1024;
        List<byte[]> kept = new ArrayList<>();
        byte[][] window = new byte[256][];
        long checksum = 0;
        for (long i = 0; i < buffers; i++) {
            byte[] buffer = new byte[1024];
            buffer[(int) (i % 1024)] = (byte) i;
            checksum += buffer[(int) ((i * 7) % 1024)];
            if (leak && i % 64 == 0) {
                kept.add(buffer);
            } else {
                window[(int) (i % window.length)] = buffer;
            }
        }
        System.out.println("checksum " + checksum + ", kept " + kept.size() + " buffers");
    }
}
