import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * A heap of known shape for the HPROF benchmark: ITEMS records in a static
 * HashMap, each with a String key, a byte[] payload, a small ArrayList of
 * boxed numbers and a link to an older record (so the graph is not a tree).
 * Prints "ready PID" and waits for stdin to close.
 */
public class MakeHeap {
    static final class Item {
        final String name;
        final byte[] payload;
        final List<Integer> numbers = new ArrayList<>(4);
        Item older;
        Item(String name, int size) { this.name = name; this.payload = new byte[size]; }
    }

    static final Map<String, Item> ITEMS = new HashMap<>();

    public static void main(String[] args) throws Exception {
        int n = Integer.parseInt(args[0]);
        Item previous = null;
        for (int i = 0; i < n; i++) {
            Item item = new Item("item-" + i, 16 + (i % 64));
            for (int k = 0; k < 3; k++) item.numbers.add(i * 3 + k);
            if (previous != null && i % 3 == 0) item.older = previous;
            ITEMS.put(item.name, item);
            previous = item;
        }
        System.gc();
        System.out.println("ready " + ProcessHandle.current().pid());
        System.in.read();
    }
}
